"""`bench` in Python, for notebooks: a small facade over ``harness`` and ``baselines``.

Every function returns values (a ``Run`` with its record and metrics, images as arrays, metric
values, a DataFrame), never only a path, and makes the same checks and files as the command line::

    import bench
    run = bench.run("gan_only", "digits", budget_kimg=1, num_samples=200)
    run.metrics["fd"]                                   # the record's number
    images = bench.sample(run, "0-199")                 # uint8 [200, 8, 8, 1], seed i is image i
    bench.evaluate(images, "digits", ["fd"])["fd"]      # the same number, to the float
    bench.records("results")                            # every stored metric, one row each (pandas)
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from bench.frame import metric_rows, records

__all__ = ["Run", "evaluate", "load", "metric_rows", "records", "run", "sample"]


@dataclass
class Run:
    """A stored run: its folder and record; metrics, curve and generator read from them."""

    path: Path
    record: dict

    @property
    def run_id(self) -> str:
        return self.record["run_id"]

    @property
    def metrics(self) -> dict[str, float]:
        """The final metric values by name (their provenance is in ``record['metrics']``)."""
        return {m["name"]: m["value"] for m in self.record.get("metrics") or []}

    @property
    def curve(self) -> list[dict]:
        return list((self.record.get("curve") or {}).get("points", []))

    @property
    def config(self):
        """The ``harness.config.RunConfig`` the run was made with."""
        from harness.build import config_from_record

        return config_from_record(self.record, str(self.path / "record.json"))

    def generator(self, snapshot: str = "final", device: str = "cpu"):
        """The EMA generator (``final``, ``best`` or a kept point's kimg), ``generator(z, labels)``."""
        from harness.backbones.files import load_weights
        from harness.build import load_run
        from harness.snapshots import FINAL_FILE, resolve

        weights, _ = resolve(self.path, self.record, str(snapshot))
        loaded = load_run(self.path, device)
        if weights.name != FINAL_FILE:
            loaded.generator.load_state_dict(load_weights(weights)[0], strict=True)
        return loaded.generator


def _overrides(settings: Mapping[str, Any] | Iterable[str] | None) -> list[str]:
    if settings is None:
        return []
    if isinstance(settings, Mapping):
        return [f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}" for k, v in settings.items()]
    return [str(s) for s in settings]


def run(method: str, dataset: str = "digits", *, backbone: str | None = None, budget_kimg: float | None = None,
        seed: int = 0, results: str | Path = "results", device: str = "auto", settings=None,
        num_samples: int | None = None, eval_every_kimg: float | None = None, keep: str | None = None,
        show_progress: bool = False) -> Run:
    """Train ``method`` from the backbone on ``dataset`` (`bench run`); ``settings`` are ``--set``
    pairs as a dict or ``["key=value", ...]``. Returns the stored run."""
    from harness.build import configure
    from harness.runner import run as run_method

    overrides = _overrides(settings) + ([f"train.keep_snapshots={keep}"] if keep is not None else [])
    config = configure(method, dataset, backbone=backbone, budget_kimg=budget_kimg, seed=seed, device=device,
                       overrides=overrides, num_samples=num_samples, eval_every_kimg=eval_every_kimg)
    return load(run_method(config, Path(results), show_progress=show_progress).parent)


def load(run_dir: str | Path, results: str | Path = "results") -> Run:
    """A stored run by folder or by run id in ``results``."""
    from harness.build import read_run_record

    path = Path(run_dir)
    if not path.is_dir() and (Path(results) / str(run_dir)).is_dir():
        path = Path(results) / str(run_dir)
    return Run(path, read_run_record(path))


def sample(source: Run | str | Path, seeds: str | Iterable[int] = "0-63", *, snapshot: str = "final",
           out: str | Path | None = None, device: str = "auto", batch_size: int = 64,
           class_labels: str | int | Iterable[int] | None = None, force: bool = False) -> np.ndarray:
    """Images of a run's generator as uint8 [N, H, W, C], one per seed (the `bench eval` protocol);
    with ``out`` (a folder or ``.npz``) they are also exported as `bench sample` does.
    ``class_labels`` (conditional models): the i-th seed gets ``labels[i mod len(labels)]``."""
    from harness.sample_command import SampleOptions, sample_command
    from harness.sample_files import png_path
    from harness.seed_ranges import format_seeds, parse_seeds

    seed_text = seeds if isinstance(seeds, str) else format_seeds([int(s) for s in seeds])
    if class_labels is not None and not isinstance(class_labels, str):
        class_labels = str(class_labels) if isinstance(class_labels, int) else ",".join(map(str, class_labels))
    path = source.path if isinstance(source, Run) else Path(source)
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(out) if out is not None else Path(scratch) / "samples.npz"
        done = sample_command(SampleOptions(seeds=seed_text, out=target, run=path, snapshot=str(snapshot),
                                            batch_size=batch_size, class_labels=class_labels, device=device,
                                            force=force, show_progress=False))
        if done.images is not None:
            return done.images
        from PIL import Image

        subdirs = done.manifest["subdirs"]
        arrays = [np.asarray(Image.open(png_path(target, s, subdirs))) for s in parse_seeds(seed_text)]
        return np.stack([a[:, :, None] if a.ndim == 2 else a for a in arrays])


def evaluate(source, dataset: str | None = None, metrics: Iterable[str] = ("fd",), *,
             num_samples: int | None = None, results: str | Path | None = None, device: str = "auto",
             **options: Any) -> dict[str, float]:
    """Metric values of a run (its generator, `bench eval --checkpoint`), a folder or ``.npz`` of
    images, or an array of uint8 [N, H, W, C] images, against ``dataset``; a record is written to
    ``results`` when given (else to a temporary folder). ``options``: more ``EvalOptions`` fields."""
    from harness.eval_command import EvalOptions, eval_command
    from harness.sample_files import write_npz

    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = samples = None
        if isinstance(source, Run) or (isinstance(source, (str, Path)) and (Path(source) / "record.json").is_file()):
            checkpoint = source.path if isinstance(source, Run) else Path(source)
            if num_samples is None:  # the run's own protocol, not the 50,000 of published FIDs
                num_samples = load(checkpoint).record["config"]["eval"]["num_samples"]
        elif isinstance(source, (str, Path)):
            samples = Path(source)
        else:
            samples = write_npz(Path(scratch) / "images.npz", np.asarray(source), None)
        opts = EvalOptions(dataset=dataset, metrics=tuple(metrics), num_samples=num_samples, device=device,
                           results=Path(results) if results is not None else Path(scratch) / "results",
                           show_progress=False, command="bench.evaluate", **options)
        record_path = eval_command(opts, checkpoint=checkpoint, samples=samples)
        from harness.records import read_json

        return {m["name"]: m["value"] for m in read_json(record_path)["metrics"]}
