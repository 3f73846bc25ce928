"""The `bench` command line: Typer flags mapped onto config objects, one function call per command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from harness.errors import BenchError, UsageError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Run, measure and compare one-step generators made from diffusion models.")
DEFAULT_RESULTS = Path("results")


def echo_err(message: str) -> None:
    typer.echo(message, err=True)


def registries() -> dict:
    from baselines import METHODS
    from harness.backbones import BACKBONES
    from harness.data import DATASETS
    from harness.metrics import METRICS

    return {"methods": METHODS, "datasets": DATASETS, "backbones": BACKBONES, "metrics": METRICS}


@app.command("list")
def list_entries(kind: Optional[str] = typer.Argument(None, help="methods | datasets | backbones | metrics")) -> None:
    """List what is registered."""
    regs = registries()
    if kind is not None and kind not in regs:
        raise UsageError(f"unknown list '{kind}'; valid: {', '.join(regs)}")
    for name in [kind] if kind else list(regs):
        typer.echo(f"{name}:")
        for entry_name, entry in regs[name].items():
            description = getattr(entry, "description", None) or (entry.__doc__ or "").strip().splitlines()[0:1]
            if isinstance(description, list):
                description = description[0] if description else ""
            typer.echo(f"  {entry_name:32s} {description}")


@app.command()
def run(
    method: Optional[str] = typer.Option(None, help="a registered method (bench list methods)"),
    dataset: str = typer.Option("digits", help="a registered dataset (bench list datasets)"),
    backbone: Optional[str] = typer.Option(None, help="registry name or path to .pkl/.safetensors; default: the dataset's"),
    budget_kimg: Optional[float] = typer.Option(None, help="training images the generator sees, in thousands"),
    seed: int = typer.Option(0, help="run seed; every random stream is derived from it"),
    results: Path = typer.Option(DEFAULT_RESULTS, help="results directory"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    data: Optional[Path] = typer.Option(None, help="local dataset file or folder"),
    set_: List[str] = typer.Option([], "--set", help="KEY=VALUE overrides of the method, train or eval config"),
    num_samples: Optional[int] = typer.Option(None, help="evaluation samples (default: the dataset's preset)"),
    reference: bool = typer.Option(False, help="mark the record as a regression reference for `bench verify`"),
    resume: Optional[str] = typer.Option(None, help="continue RUN_ID (in --results) or RUN_DIR from its last checkpoint"),
    quiet: bool = typer.Option(False, help="no progress bars"),
) -> None:
    """Train one method from a backbone, evaluate it, store its record; prints the record's path."""
    from harness.runner import configure
    from harness.runner import resume as resume_run
    from harness.runner import run as run_method

    if resume:
        typer.echo(str(resume_run(resume, results, show_progress=not quiet)))
        return
    if method is None:
        raise UsageError("--method is required (or --resume RUN_ID)")

    config = configure(method, dataset, backbone=backbone, budget_kimg=budget_kimg, seed=seed, device=device,
                       data_path=data, overrides=set_, num_samples=num_samples)
    ref = {"tolerance_rel": 0.05} if reference else None
    path = run_method(config, results, show_progress=not quiet, reference=ref)
    typer.echo(str(path))


@app.command()
def pretrain(
    dataset: str = typer.Option(..., help="dataset to pre-train a small EDM backbone on"),
    out: Path = typer.Option(..., help="output .safetensors (a JSON card is written beside it)"),
    kimg: Optional[float] = typer.Option(None, help="training images in thousands (default: the dataset's preset)"),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto"),
    data: Optional[Path] = typer.Option(None, help="local dataset file or folder"),
    set_: List[str] = typer.Option([], "--set", help="KEY=VALUE overrides of the pre-training config"),
    quiet: bool = typer.Option(False),
) -> None:
    """Pre-train a small EDM backbone with the EDM loss and write safetensors + card."""
    from harness.pretrain_command import pretrain_command

    card = pretrain_command(dataset, out, kimg, seed, device, data, set_, " ".join(["bench", *sys.argv[1:]]), not quiet)
    typer.echo(f"{out}  (teacher FD {card.get('teacher_fd', float('nan')):.3f})")


@app.command()
def report(
    results: Path = typer.Option(DEFAULT_RESULTS, help="results directory"),
    out: Path = typer.Option(Path("tables"), help="where the tables are written"),
) -> None:
    """Rebuild the tables from the stored records."""
    from harness.report import build_report

    written, problems = build_report(results, out)
    for line in problems:
        echo_err(f"warning: {line}")
    for path in written:
        typer.echo(str(path))


@app.command()
def verify(results: Path = typer.Option(DEFAULT_RESULTS, help="results directory")) -> None:
    """Re-run the records marked as regression references; fail if a metric moved beyond its tolerance."""
    from harness.verify import verify_references

    ok, lines = verify_references(results)
    for line in lines:
        typer.echo(line)
    if not ok:
        raise typer.Exit(1)


from harness.backbones.convert import backbones_app
app.add_typer(backbones_app, name="backbones")
from harness.analyze.cli import analyze_app
app.add_typer(analyze_app, name="analyze")


def main() -> None:
    import click

    try:
        app(standalone_mode=False)
    except BenchError as exc:
        echo_err(f"error: {exc}")
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        echo_err("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
