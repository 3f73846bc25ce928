"""`bench sample`: a stored generator's (or the teacher's, or the backbone's) images exported for
outside evaluators, as PNG folders in EDM's ``generate.py`` layout or one ADM-format ``.npz``
(formats: ``harness.sample_files``).

Seeds follow the harness's protocol (``harness.evaluate``: one generator per seed, classes drawn
from it), so seed i here is the image `bench run` and `bench eval` measured for seed i, and
`bench eval --samples DIR` on the export reproduces the record's number. Everything is checked
before a network is loaded (the class labels against the model right after, before any sampling);
nothing in the run folder is changed. Both outputs resume: PNGs that exist are kept when the folder's
``bench-sample.json`` vouches for them (names this generator and lists their seeds; files no manifest
vouches for need --force), an npz is assembled from per-batch shards that survive a stop
(``harness.sample_shards``). Several class labels are assigned by position in the seed list
(``harness.class_labels``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import numpy as np
import typer

from harness.errors import UsageError

if TYPE_CHECKING:  # annotations only: `bench --help` starts without torch
    import torch

ACTIVE_EXPORT: list[Path] = []  # the --out being written, for the CLI's line on Ctrl-C (harness/cli.py)


@dataclass
class SampleOptions:
    seeds: str = "0-49999"
    out: Path | str = Path("samples")  # a str keeps a trailing slash, which check_out reads
    run: Path | None = None  # a run folder (or run id in ``results``) of `bench run`
    snapshot: str = "final"  # final | best | a kept curve point's kimg (harness/snapshots.py)
    method: str | None = None  # instead of a run: a method that trains nothing (teacher, backbone_one_step)
    backbone: str | None = None
    overrides: list[str] = field(default_factory=list)  # --set KEY=VALUE of that method's config
    subdirs: bool = False
    batch_size: int = 64
    class_labels: str | None = None  # one, a list or a range (harness/class_labels.py); None: drawn per seed
    device: str = "auto"
    force: bool = False
    results: Path = Path("results")
    show_progress: bool = True


@dataclass
class Exported:
    """What `bench sample` wrote: the path, how many images it made and kept, and its manifest."""

    out: Path
    written: int
    kept: int
    seconds: float
    manifest: dict[str, Any]
    images: np.ndarray | None = None  # the npz's arr_0 (uint8 NHWC) when the export is one file

    @property
    def images_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else float("nan")


def resolve_run_dir(run: Path, results: Path) -> Path:
    path = Path(run)
    if not path.is_dir() and (Path(results) / str(run)).is_dir():
        path = Path(results) / str(run)
    if not (path / "record.json").is_file():
        from harness.validate import describe_path

        raise UsageError(f"{run}: {describe_path(path)}; expected a run folder of `bench run` (or a run id in {results})")
    return path


def check_out(out: Path | str, results_dirs: list[Path], force: bool, subdirs: bool) -> str:
    """``npz`` or ``png``; refuses an --out inside a results folder, an existing npz without --force,
    a file where a folder is meant, and an .npz name ending in a slash (a Path drops the slash, so
    ``x.npz/`` would silently become the file ``x.npz``)."""
    text, out = str(out), Path(out)
    if out.suffix.lower() == ".npz" and text.endswith(("/", os.sep, os.altsep or "/")):
        raise UsageError(f"--out {text}: a trailing slash names a folder, but a name ending in .npz is one ADM "
                         f"file; drop the slash for an .npz, or name a folder of PNGs without .npz")
    for results in results_dirs:
        if results.exists() and (out.resolve() == results.resolve() or results.resolve() in out.resolve().parents):
            raise UsageError(f"--out {out} is inside the results folder {results}; bench sample changes nothing stored, "
                             f"so write the samples elsewhere")
    above = out.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if above.exists() and not above.is_dir():
        raise UsageError(f"--out {out}: {above} is a file, not a folder")
    if out.suffix.lower() == ".npz":
        if subdirs:
            raise UsageError("--subdirs is for PNG folders; an .npz holds every image in one file")
        if out.exists() and not out.is_file():
            raise UsageError(f"--out {out} is a folder; an .npz name must be a file")
        if out.exists() and not force:
            raise UsageError(f"--out {out} exists; pass --force to replace it")
        from harness.sample_shards import parts_folder

        parts = parts_folder(out)
        if os.path.lexists(parts) and not parts.is_dir():
            raise UsageError(f"--out {out}: {parts} is a file where the export's parts folder goes; "
                             f"remove it or choose another --out")
        return "npz"
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for PNGs or a name ending in .npz")
    return "png"


def _checked(options: SampleOptions) -> tuple[list[int], str, Path | None, list[int] | None]:
    from harness.class_labels import parse_class_labels
    from harness.seed_ranges import parse_seeds
    from harness.validate import check_device, check_number

    seeds = parse_seeds(options.seeds)
    labels = parse_class_labels(options.class_labels)
    check_number("--batch", options.batch_size, integral=True, minimum=1)
    check_device(options.device)
    if (options.run is None) == (options.method is None):
        raise UsageError("pass a run folder (bench sample RUN) or --method teacher|backbone_one_step with --backbone")
    run_dir = None
    results_dirs = [Path(options.results)]
    if options.run is not None:
        if options.backbone or options.overrides:
            raise UsageError("--backbone and --set are for --method; a run is sampled with the settings it was made with")
        run_dir = resolve_run_dir(options.run, options.results)
        results_dirs.append(run_dir.parent)
    else:
        from baselines import METHODS

        if METHODS.get(options.method).trains:
            raise UsageError(f"--method {options.method} trains a generator: sample its run folder instead "
                             f"(bench sample RUN)")
        if not options.backbone:
            raise UsageError(f"--method {options.method} needs --backbone NAME_OR_PATH")
        if options.snapshot != "final":
            raise UsageError("--snapshot is for a run's kept snapshots, not for --method")
        from harness.validate import check_backbone

        check_backbone(options.backbone)
    return seeds, check_out(options.out, results_dirs, options.force, options.subdirs), run_dir, labels


def _source(options: SampleOptions, run_dir: Path | None, device: torch.device):
    """(generator, (channels, resolution, label_dim), manifest source) of a run or a fixed method."""
    from harness.build import load_run, read_run_record

    if run_dir is not None:
        from harness import snapshots

        from harness import remake

        record = read_run_record(run_dir)
        weights, which = snapshots.resolve(run_dir, record, options.snapshot)  # before anything loads
        if weights.name == snapshots.FINAL_FILE and weights.parent == Path(run_dir):
            load_dir, remade = remake.generator_dir(Path(run_dir), options.show_progress)  # not kept: re-made, checked
            which = {**which, "generator": remade or "kept"}
            loaded = load_run(load_dir, str(device))
        else:  # a kept snapshot (resolve checked its hash): no final generator needed (a clone has none)
            loaded = load_run(run_dir, str(device), weights=weights)
        b = loaded.backbone
        source = {"kind": "run", "run_id": record.get("run_id"), "method": record.get("method"), **which,
                  "backbone": b.name, "backbone_sha256": b.sha256}
        return loaded.generator, (b.channels, b.resolution, b.label_dim), source
    from baselines import METHODS
    from baselines.base import MethodContext
    from harness.backbones import load_backbone
    from harness.config import apply_overrides, split_overrides

    cls = METHODS.get(options.method)
    config = apply_overrides(cls.Config(), split_overrides(list(options.overrides), {"method": cls.Config()})["method"])
    backbone = load_backbone(options.backbone)
    backbone.net.to(device)
    method = cls(MethodContext(backbone, backbone.label_dim, device, 0, 1, 0), config)
    from dataclasses import asdict

    source = {"kind": "method", "method": options.method, "config": asdict(config), "nfe": method.nfe,
              "backbone": backbone.name, "backbone_sha256": backbone.sha256}
    return method.generator.eval().requires_grad_(False), (backbone.channels, backbone.resolution,
                                                           backbone.label_dim), source


def _png_todo(options: SampleOptions, seeds: list[int], labels: list[int] | None, manifest: dict) -> list[int]:
    """The seeds whose PNG is missing (all with --force), after refusing a folder of another
    generator's samples, kept files no manifest vouches for (another tool's, or copied in), or kept
    files whose recorded class differs from the one now assigned. The manifest written vouches for
    this export and every earlier one of the same generator whose files are still there."""
    from harness.sample_files import MANIFEST, png_path, read_manifest, source_text, vouched_by, write_manifest
    from harness.seed_ranges import format_seeds

    out = Path(options.out)
    names = [png_path(out, s, options.subdirs).relative_to(out).as_posix() for s in seeds]
    previous = out / MANIFEST
    old = None if options.force else read_manifest(previous)
    vouched: set[str] = set()
    earlier: list[int] = []
    recorded: dict[str, int] = {}
    if old is not None:
        if old.get("source") != manifest["source"]:
            raise UsageError(f"--out {out} holds samples of another generator ({source_text(old)}); "
                             f"pass --force to replace them, or choose another folder")
        vouched, earlier, recorded = vouched_by(out, old)
        if bool(old.get("subdirs")) != options.subdirs or old.get("format", "png") != "png":
            earlier = []  # one layout per manifest: files of the other one stay, no longer vouched for
    todo = list(seeds) if options.force else [s for s, n in zip(seeds, names) if not (out / n).is_file()]
    missing = set(todo)
    stray = [n for s, n in zip(seeds, names) if s not in missing and n not in vouched]
    if stray:
        why = f"no {MANIFEST} vouches for them" if old is None else f"its {MANIFEST} does not list them"
        raise UsageError(f"--out {out} already holds {len(stray)} of this export's files ({stray[0]}"
                         f"{', ...' if len(stray) > 1 else ''}) but {why}, so they may be another generator's; "
                         f"pass --force to replace them, or choose another folder")
    if labels is not None:
        for seed, name, label in zip(seeds, names, labels):
            if seed not in missing and recorded.get(name) != label:
                was = "no recorded class" if name not in recorded else f"class {recorded[name]}"
                raise UsageError(f"--out {out}: {name} is kept from before with {was}, but this export gives "
                                 f"seed {seed} class {label}; pass --force to replace the files, or choose another folder")
        recorded.update(zip(names, labels))
        manifest["labels"] = sorted([name, label] for name, label in recorded.items())  # EDM dataset.json's layout
    if not set(earlier) <= set(seeds):  # seeds and count cover the earlier exports too
        union = sorted(set(earlier) | set(seeds))
        manifest.update(seeds=format_seeds(union), num_images=len(union))
        if labels is not None and (options.class_labels is not None or old.get("label_rule") != manifest["label_rule"]):
            manifest["label_rule"] = "per file: the labels list (several exports)"  # positions no longer tell
            if old.get("class_labels") != manifest["class_labels"]:
                manifest["class_labels"] = "several: see labels"
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(previous, manifest)
    return todo


def sample_command(options: SampleOptions) -> Exported:
    """Check everything, load the generator, write the images that are missing; return what was done."""
    seeds, kind, run_dir, wanted = _checked(options)  # before torch loads: a typo is answered at once
    from harness import class_labels
    from harness.build import resolve_device
    from harness.evaluate import generate_batch
    from harness.progress import image_progress
    from harness.sample_files import png_path, to_hwc_uint8, write_png
    from harness.sample_shards import Batch, NpzShards
    from harness.seed_ranges import format_seeds

    device = resolve_device(options.device)
    generator, (channels, resolution, label_dim), source = _source(options, run_dir, device)
    class_labels.check_against_model(wanted, label_dim, str(options.class_labels))
    labels = class_labels.per_seed(wanted, seeds, label_dim, (channels, resolution, resolution))
    out = Path(options.out)
    manifest = {"source": source, "seeds": format_seeds(seeds), "num_images": len(seeds), "format": kind,
                "subdirs": options.subdirs, "class_labels": class_labels.describe(wanted),
                "label_rule": "drawn per seed" if wanted is None else "i-th listed seed: labels[i mod len(labels)]",
                "shape": [resolution, resolution, channels], "protocol": "one torch.Generator per seed "
                "(harness.evaluate.seed_latents), images rounded to 8 bits"}
    if kind == "npz":
        shards = NpzShards(out, seeds, labels, options.batch_size, (resolution, resolution, channels), manifest)
        batches = shards.start(options.force)
    else:
        todo = _png_todo(options, seeds, labels, manifest)
        label_of = dict(zip(seeds, labels)) if labels is not None else None
        batches = [Batch(i, todo[i:i + options.batch_size],
                         None if label_of is None else [label_of[s] for s in todo[i:i + options.batch_size]])
                   for i in range(0, len(todo), options.batch_size)]
    written = sum(len(batch.seeds) for batch in batches)
    start = time.perf_counter()
    ACTIVE_EXPORT[:] = [out]
    with image_progress("sampling", written, options.show_progress) as advance:
        for batch in batches:
            images, _ = generate_batch(generator, batch.seeds, (channels, resolution, resolution), label_dim, device,
                                       batch.labels)
            pixels = to_hwc_uint8(images)
            if kind == "npz":
                shards.write(batch, pixels)
            else:
                for seed, image in zip(batch.seeds, pixels):
                    write_png(png_path(out, seed, options.subdirs), image)
            advance(len(batch.seeds))
    images = shards.assemble()[0] if kind == "npz" else None
    ACTIVE_EXPORT.clear()
    return Exported(out, written, len(seeds) - written, time.perf_counter() - start, manifest, images)


def summary(done: Exported) -> str:
    kept = f", {done.kept:,} already there kept" if done.kept else ""
    rate = f", {done.images_per_second:,.0f} img/s" if done.written else ""
    return f"{done.out}  ({done.written:,} images written{kept}{rate})"



def sample(
    run: Optional[Path] = typer.Argument(None, help="a run folder of `bench run` (or its run id in --results)"),
    seeds: str = typer.Option("0-49999", help="seeds as EDM's generate.py takes them: 0-49999, 1,5,10-19"),
    out: str = typer.Option(..., metavar="PATH", help="a folder (one PNG per seed) or a FILE.npz (ADM's format; a "
                            "stopped export resumes from the batches kept in .FILE.npz.parts/)"),
    snapshot: str = typer.Option("final", help="final | best | a kept curve point's kimg (bench run --keep)"),
    subdirs: bool = typer.Option(False, help="PNGs in sub-folders of 1000 (EDM's --subdirs)"),
    batch: int = typer.Option(64, help="images per generator call (an .npz resumes with the same --batch)"),
    class_labels: Optional[str] = typer.Option(
        None, "--class-labels", "--class-label", help="classes of a conditional model's images: one (3), a list or a "
        "range (0,3,7 / 0-9); the i-th seed listed gets the (i mod n)-th label, so --seeds 0-9 --class-labels 0-9 "
        "gives seed i class i (default: drawn per seed, as bench eval draws them)"),
    method: Optional[str] = typer.Option(None, help="instead of a run: teacher | backbone_one_step (with --backbone)"),
    backbone: Optional[str] = typer.Option(None, help="the backbone --method samples: registry name or path"),
    set_: List[str] = typer.Option([], "--set", help="KEY=VALUE of --method's config (e.g. num_steps=18)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    force: bool = typer.Option(False, help="replace existing files instead of keeping them"),
    results: Path = typer.Option(Path("results"), help="results directory (where run ids are looked up)"),
    quiet: bool = typer.Option(False, help="no progress bar"),
) -> None:
    """Export a generator's samples: PNGs in EDM's generate.py layout or an ADM-format .npz."""
    done = sample_command(SampleOptions(seeds=seeds, out=out, run=run, snapshot=snapshot, method=method,
                                        backbone=backbone, overrides=list(set_), subdirs=subdirs, batch_size=batch,
                                        class_labels=class_labels, device=device, force=force, results=results,
                                        show_progress=not quiet))
    typer.echo(summary(done))
