"""`bench eval` and `bench refstats`: the EDM evaluation protocol around ``harness.metrics.evaluate``
(a command driver, beside ``pretrain_command.py``; the metrics library below imports nothing of it).

EDM protocol (Karras et al. 2022, arXiv 2206.00364; NVlabs/edm's generate.py): 50,000 samples from
seeds 0-49,999, one generator per seed (``harness.evaluate.generate``), classes drawn uniformly for
conditional models, generated in batches on the device; FID against reference statistics of the
training set; optionally the minimum over three disjoint seed sets (``fid_repeats=3``: 0-49,999,
50,000-99,999, 100,000-149,999).
``num_samples`` below 50,000 makes a smaller run; its records say so (``details.protocol``) and its
sample count puts it in its own report column.

Weights are resolved before anything else is loaded, so a machine without them gets the error
naming the file, URL and destination at once, not after loading a dataset or generating images.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness import records
from harness.errors import BenchError, UsageError
from harness.sample_files import check_samples_fit

EDM_NUM_SAMPLES = 50_000
LONG_EVAL_IMAGES = 3 * EDM_NUM_SAMPLES  # more than EDM's three FID sets gets a note first
METRIC_ALIASES = {"pr": ("precision", "recall")}
DEFAULT_METRICS = ("fid",)
INCEPTION_METRICS = ("fid", "kid", "is")  # in Inception-v3's features (KID beside FID, as torch-fidelity)
SPACE_METRICS = ("fd", "precision", "recall")  # in the dataset's registered feature space, as `bench run` measures
INCEPTION_NAME = "inception-v3-compat"


@dataclass
class EvalOptions:
    dataset: str | None = None
    metrics: tuple[str, ...] = DEFAULT_METRICS
    fid_impl: str = "own"
    is_impl: str = "own"
    inception_weights: Path | None = None
    weights_dir: Path | None = None
    reference: Path | None = None  # EDM-format .npz statistics; default: computed from the dataset (cached)
    num_samples: int | None = None  # default: 50,000 for a generator, every image for a folder
    first_seed: int = 0
    fid_repeats: int = 1
    batch_size: int = 500  # generation batch
    feature_batch_size: int = 128
    device: str = "auto"
    data_path: Path | None = None
    results: Path = Path("results")
    use_cache: bool = True
    show_progress: bool = True
    real_subset: str | None = None  # a named subset or START:STOP of the real data (harness/data/subsets.py)
    command: str = ""
    notes: list[str] = field(default_factory=list)  # warnings for the user, filled in while running


def expand_metrics(names: list[str] | tuple[str, ...]) -> list[str]:
    """User metric names (``pr`` is precision and recall) as registry names, in order, once each."""
    from harness.metrics import METRICS

    out: list[str] = []
    for name in names or DEFAULT_METRICS:
        for n in METRIC_ALIASES.get(name, (name,)):
            METRICS.get(n)  # an unknown name fails here, listing the valid ones
            if n not in out:
                out.append(n)
    return out


def protocol_label(num_samples: int, first_seed: int | None, repeats: int = 1) -> str:
    if num_samples >= EDM_NUM_SAMPLES and first_seed == 0:
        return (f"EDM: {num_samples:,} samples, seeds 0-{num_samples - 1}" +
                (f", minimum over {repeats} seed sets" if repeats > 1 else ""))
    where = f"seeds {first_seed}-{first_seed + num_samples - 1}" if first_seed is not None else "image folder"
    if num_samples < EDM_NUM_SAMPLES:
        return (f"reduced: {num_samples:,} samples ({where}); FID is biased upward at this size and not "
                f"comparable with published 50k values")
    return f"{num_samples:,} samples ({where})"


# ---------------------------------------------------------------------------------------------
# Sources of images
# ---------------------------------------------------------------------------------------------

def load_samples(path: Path, num: int | None = None,
                 files: list[Path] | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """A folder of images (searched recursively; ``files``: its listing, when already made) or an
    ADM-format ``.npz`` as float [-1, 1] NCHW."""
    from harness.sample_files import load_image_folder, npz_as_samples

    if Path(path).suffix.lower() == ".npz" and Path(path).is_file():
        return npz_as_samples(Path(path), num)
    return load_image_folder(Path(path), num, files)


def _feature_space(options: EvalOptions, checkpoint: Path | None) -> str:
    """The feature network fd/precision/recall are measured in: the run's own (its record's config),
    else the dataset's registered one, so `bench eval` repeats what `bench run` measured."""
    from harness.data import DATASETS

    record = records.read_json(Path(checkpoint) / records.RECORD_NAME) if checkpoint is not None else {}
    chosen = ((record.get("config") or {}).get("eval") or {}).get("feature_extractor")
    return chosen or DATASETS.get(options.dataset or record.get("dataset")).feature_extractor


def _generator_geometry(generator: torch.nn.Module, dataset_spec) -> tuple[tuple[int, int, int], int]:
    """(channels, resolution, resolution) and label_dim of a stored generator, from its EDM network."""
    for module in generator.modules():
        if hasattr(module, "img_resolution") and hasattr(module, "img_channels"):
            r, c = int(module.img_resolution), int(module.img_channels)
            return (c, r, r), int(getattr(module, "label_dim", 0) or 0)
    return (dataset_spec.channels, dataset_spec.resolution, dataset_spec.resolution), 0


# ---------------------------------------------------------------------------------------------
# bench eval
# ---------------------------------------------------------------------------------------------

def _fid_repeat_details(values: list, seed_sets: list[range]) -> dict[str, Any]:
    return {"aggregate": f"minimum over {len(values)} seed sets" if len(values) > 1 else "single seed set",
            "repeats": [{"seeds": [s.start, s.stop - 1], "value": v.value} for v, s in zip(values, seed_sets)]}


def eval_command(options: EvalOptions, checkpoint: Path | None = None, samples: Path | None = None) -> Path:
    """Evaluate a stored generator (run directory) or a folder of images; write a record; return its path."""
    from harness.data import DATASETS, load_dataset
    from harness.metrics.fid import FID_IMPLEMENTATIONS, IS_IMPLEMENTATIONS
    from harness.metrics.inception import InceptionExtractor, require_classifier, resolve_inception_weights

    from harness.validate import check_eval_options, check_results_dir, describe_path

    wall_start = time.perf_counter()
    if (checkpoint is None) == (samples is None):
        raise UsageError("pass exactly one of --checkpoint RUN_DIR and --samples DIR")
    metrics = expand_metrics(options.metrics)
    if options.reference is not None and "fid" not in metrics:
        raise UsageError(f"--ref {options.reference}: only fid reads reference statistics, and --metric asks for "
                         f"{', '.join(metrics)}")
    if options.fid_impl not in FID_IMPLEMENTATIONS:
        raise UsageError(f"unknown --fid-impl '{options.fid_impl}'; valid: {', '.join(FID_IMPLEMENTATIONS)}")
    if options.is_impl not in IS_IMPLEMENTATIONS:
        raise UsageError(f"unknown --is-impl '{options.is_impl}'; valid: {', '.join(IS_IMPLEMENTATIONS)}")
    if options.fid_repeats < 1:
        raise UsageError("--fid-repeats must be at least 1")
    if options.fid_repeats > 1 and samples is not None:
        raise UsageError("--fid-repeats needs a generator (--checkpoint): an image folder is one fixed set")
    check_eval_options(options)
    if options.dataset is not None:
        DATASETS.get(options.dataset)
    elif samples is not None:
        raise UsageError("--samples needs --dataset (the real data the images are compared with)")

    check_results_dir(options.results)
    if checkpoint is not None and not (Path(checkpoint).is_dir() and (Path(checkpoint) / records.RECORD_NAME).is_file()):
        raise UsageError(f"--checkpoint {checkpoint}: {describe_path(Path(checkpoint))}; expected a run folder of "
                         f"`bench run` (holding {records.RECORD_NAME} and generator.safetensors)")
    if checkpoint is not None:
        from harness import remake
        from harness.build import check_names

        stored = records.read_json(Path(checkpoint) / records.RECORD_NAME)
        check_names(stored, Path(checkpoint) / records.RECORD_NAME)
        if remake.needs_remake(Path(checkpoint), stored):
            remake.check_remakeable(stored)  # e.g. a GPU run on a CPU machine: refused before any work
    if samples is not None and Path(samples).suffix.lower() == ".npz":
        from harness.sample_files import read_npz

        read_npz(Path(samples))  # its layout is checked before anything is created

    # 1. Only the feature networks the metrics read (fid/is: Inception; fd/precision/recall: the
    # dataset's own space, e.g. the digits classifier; fd-dinov2: its own), files resolved first.
    space = _feature_space(options, checkpoint)
    wants_space = any(m in SPACE_METRICS for m in metrics)
    needs_inception = any(m in INCEPTION_METRICS for m in metrics) or (wants_space and space == INCEPTION_NAME)
    weights = resolve_inception_weights(options.inception_weights, options.weights_dir) if needs_inception else None
    if weights is not None and "is" in metrics:
        require_classifier(weights.provenance, weights.path)  # repackaged weights lack it: refused before any work
    folder_files = None
    if samples is not None and Path(samples).suffix.lower() != ".npz":
        from harness.sample_files import image_files

        # A missing or short folder is refused before any network loads; the listing is kept for loading.
        folder_files = image_files(Path(samples), options.num_samples)
    records.check_writable(options.results)
    from harness.metrics import evaluate, load_extractor
    from harness.metrics.reference import load_npz
    from harness.build import resolve_device

    device = resolve_device(options.device)
    inception = InceptionExtractor(weights, device, batch_size=options.feature_batch_size) if weights else None
    space_net = (inception if space == INCEPTION_NAME else load_extractor(space, None, device)) if wants_space else None
    extractors = [net for net in dict.fromkeys([inception, space_net]) if net is not None]
    reference_stats = load_npz(options.reference) if options.reference is not None else None
    if reference_stats is not None and inception is not None and reference_stats.dim != inception.dim:
        raise UsageError(f"--ref {options.reference}: {reference_stats.dim}-d statistics, but FID's Inception "
                         f"features are {inception.dim}-d (EDM's reference .npz files hold 2048-d ones)")

    # 2. The images to measure.
    generator, source_record, seed_sets = None, None, []
    if checkpoint is not None:
        from harness import remake
        from harness.build import load_generator

        weights_dir, remade = remake.generator_dir(Path(checkpoint), options.show_progress)
        generator, source_record = load_generator(weights_dir, str(device))
        dataset_name = options.dataset or source_record["dataset"]
        if dataset_name != source_record["dataset"]:
            raise UsageError(f"run {source_record.get('run_id')} was trained on {source_record['dataset']}, "
                             f"not --dataset {dataset_name}")
        spec = DATASETS.get(dataset_name)
        shape, label_dim = _generator_geometry(generator, spec)
        n = options.num_samples or EDM_NUM_SAMPLES
        seed_sets = [range(options.first_seed + r * n, options.first_seed + (r + 1) * n) for r in range(options.fid_repeats)]
        if n * options.fid_repeats > LONG_EVAL_IMAGES:  # said before the hours start, not after
            print(f"note: {options.fid_repeats} x {n:,} = {n * options.fid_repeats:,} images to generate and measure "
                  f"on {device} ({n * options.fid_repeats / EDM_NUM_SAMPLES:.1f}x one EDM protocol FID); "
                  f"Ctrl-C stops it", file=sys.stderr, flush=True)
        source = {"kind": "checkpoint", "path": str(checkpoint), "run_id": source_record.get("run_id"),
                  "generator": remade or "kept"}
    else:
        dataset_name = options.dataset
        spec = DATASETS.get(dataset_name)
        fake, source = load_samples(Path(samples), options.num_samples, folder_files)
        n = fake.shape[0]
    if n < EDM_NUM_SAMPLES:
        options.notes.append(f"{n:,} samples: a reduced run, labelled as such; published FIDs use 50,000")

    # 3. Real data: needed unless every metric can use the given statistics (or needs none).
    needs_real = any(m in ("precision", "recall", "fd", "fd-dinov2", "kid") for m in metrics) or \
        ("fid" in metrics and reference_stats is None)
    if samples is not None:  # said before the real data loads
        check_samples_fit(fake, f"--samples {samples}", spec, compared=needs_real)
    dataset = load_dataset(dataset_name, Path(options.data_path) if options.data_path else None) if needs_real else None
    if dataset is not None and options.real_subset is not None:
        from harness.data.subsets import subset

        dataset = subset(dataset, options.real_subset, "--real-subset")  # its own name and hash: records keep parts apart
        from harness.metrics.precision_recall import DEFAULT_K

        least = DEFAULT_K + 1 if {"precision", "recall"} & set(metrics) else 2  # k-NN radii; a covariance
        if len(dataset) < least:
            raise UsageError(f"--real-subset {options.real_subset}: {len(dataset)} real image(s); "
                             f"{', '.join(metrics)} need at least {least}")
    if dataset is not None and "fid" in metrics and reference_stats is None and options.fid_impl != "torch-fidelity":
        # Computed once per dataset, network and pipeline, then read from the cache. torch-fidelity
        # is given the images instead, so that its path stays independent end to end.
        from harness.metrics.dataset_statistics import dataset_statistics

        reference_stats = dataset_statistics(dataset, inception, options.fid_impl, options.use_cache)

    implementations = {"fid": options.fid_impl, "is": options.is_impl}

    def measure(fake: torch.Tensor, names: list[str]) -> list:
        """Each metric in the network it reads; values in the order asked for."""
        values = {}
        for group, net in (([n for n in names if n in INCEPTION_METRICS], inception),
                           ([n for n in names if n not in INCEPTION_METRICS], space_net)):
            if group:
                for value in evaluate(fake, dataset, group, net, implementations, reference=reference_stats,
                                      device=device):
                    values[value.name] = value
        return [values[n] for n in names]

    eval_start = time.perf_counter()
    all_values: list[list] = []
    first_images = None
    if generator is not None:
        from harness.evaluate import generate

        for r, seeds in enumerate(seed_sets):
            fake = generate(generator, seeds, shape, label_dim, device, options.batch_size, options.show_progress)
            if dataset is not None and tuple(fake.shape[1:]) != tuple(dataset.images.shape[1:]):
                raise BenchError(f"generated images {tuple(fake.shape[1:])} do not match dataset {dataset.name} "
                                 f"images {tuple(dataset.images.shape[1:])}")
            names = metrics if r == 0 else [m for m in metrics if m == "fid"]
            if names:
                all_values.append(measure(fake, names))
            if r == 0:
                first_images = fake[:64].clone()
            del fake
    else:
        all_values.append(measure(fake, metrics))
        first_images = fake[:64]
    eval_seconds = time.perf_counter() - eval_start

    entries = []
    for value in all_values[0]:
        entry = value.to_dict()
        first_seed = seed_sets[0].start if seed_sets else None
        entry["details"] = {**entry["details"], "protocol": protocol_label(n, first_seed, len(seed_sets) if value.name == "fid" else 1)}
        if seed_sets:
            entry["seeds"] = [seed_sets[0].start, seed_sets[0].stop - 1]
        if value.name == "fid" and len(all_values) > 1:
            fids = [next(v for v in vals if v.name == "fid") for vals in all_values]
            entry["value"] = min(v.value for v in fids)
            entry["details"].update(_fid_repeat_details(fids, seed_sets))
            entry["seeds"] = [seed_sets[0].start, seed_sets[-1].stop - 1]
        entries.append(entry)

    record = _record(options, source, source_record, dataset_name, dataset, entries, extractors, device)
    record["timing"] = {"wall_seconds": time.perf_counter() - wall_start, "train_seconds": 0.0,
                        "eval_seconds": eval_seconds, "images_per_second": None}
    run_id = records.new_run_id(record["method"], dataset_name, int(record["seed"]))
    run_dir = records.create_run_dir(options.results, run_id)
    record["run_id"] = run_id
    if first_images is not None and first_images.shape[0] >= 4:
        from harness.evaluate import save_grid
        from harness.sample_grid import grid_title
        from harness.storage import disk_errors

        grid = int(np.sqrt(min(64, first_images.shape[0])))
        first = seed_sets[0].start if seed_sets else 0
        title = (grid_title(record["method"], dataset_name, float(record.get("budget_kimg") or 0), int(record["seed"]),
                            first, grid * grid) if seed_sets else
                 f"{record['method']} · {dataset_name} · the first {grid * grid} images of the folder")
        with disk_errors("the sample grid", run_dir / "samples.png", first_images[0].numel() * grid * grid):
            save_grid(first_images, run_dir / "samples.png", grid, title, first)
    return records.write(run_dir, record)


def _record(options: EvalOptions, source: dict, source_record: dict | None, dataset_name: str, dataset,
            metrics: list[dict], extractors: list, device: torch.device) -> dict[str, Any]:
    """A record like `bench run` writes: the stored run's identity (or a folder's), the new metrics."""
    evaluation = {
        "command": options.command, "source": source, "fid_impl": options.fid_impl, "is_impl": options.is_impl,
        "fid_repeats": options.fid_repeats, "num_samples": options.num_samples, "first_seed": options.first_seed,
        "extractors": [net.describe() if hasattr(net, "describe") else net.name for net in extractors],
        "reference_statistics": str(options.reference) if options.reference else None,
        "real_subset": options.real_subset,
    }
    base = records.envelope({"status": "completed", "failure": None, "reference": None, "metrics": metrics,
                             "evaluation": evaluation, "dataset": dataset_name}, str(device))
    if dataset is not None:
        base["data"] = {"name": dataset.name, "sha256": dataset.sha256, "num_images": len(dataset), "source": dataset.source}
    if source_record is not None:
        kept = ("method", "seed", "backbone", "budget_kimg", "config", "nfe", "teacher_passes_per_image", "method_info",
                "training", "data")
        identity = {k: source_record[k] for k in kept if k in source_record}
        evaluation["evaluation_of"] = source_record.get("run_id")
        return {**identity, **base, "data": base.get("data", source_record.get("data"))}
    return {**base, "method": "samples", "seed": 0, "budget_kimg": 0.0, "nfe": None, "teacher_passes_per_image": 0.0,
            "backbone": {"name": "none (image folder)", "sha256": None, "file": None}, "method_info": {},
            "config": None, "training": {}}
