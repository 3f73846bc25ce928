"""`bench list`: what is registered (methods, datasets, backbones, metrics), one line each."""

from __future__ import annotations

from typing import Optional

import typer

from harness.errors import UsageError


KINDS = ("methods", "datasets", "backbones", "metrics")


def registries() -> dict:
    """The four registries (importing them loads torch: ~2 s)."""
    from baselines import METHODS
    from harness.backbones import BACKBONES
    from harness.data import DATASETS
    from harness.metrics import METRICS

    return {"methods": METHODS, "datasets": DATASETS, "backbones": BACKBONES, "metrics": METRICS}


def describe(entry) -> str:
    """A registry entry's one-line description: its own, else the first line of its module's docstring."""
    import sys

    text = getattr(entry, "description", None)
    if not text and isinstance(entry, type):
        text = sys.modules[entry.__module__].__doc__
    return (text or "").strip().splitlines()[0] if text else ""


def list_entries(kind: Optional[str] = typer.Argument(None, help="methods | datasets | backbones | metrics")) -> None:
    """List what is registered."""
    if kind is not None and kind not in KINDS:  # refused before the registries load
        raise UsageError(f"unknown list '{kind}'; valid: {', '.join(KINDS)}")
    regs = registries()
    for name in [kind] if kind else list(regs):
        typer.echo(f"{name}:")
        for entry_name, entry in regs[name].items():
            typer.echo(f"  {entry_name:32s} {describe(entry)}")
