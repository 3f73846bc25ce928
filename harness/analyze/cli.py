"""`bench analyze ...`: the analysis commands, a Typer sub-app the main CLI registers."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

analyze_app = typer.Typer(add_completion=False, no_args_is_help=True,
                          help="Analyse a stored run; each analysis is stored as its own record.")

RUN_HELP = "a stored run directory, <results>/<run id>/"
RESULTS_HELP = "where the analysis record goes (default: the results directory holding the run)"


@analyze_app.command("mismatch")
def mismatch(
    run: Path = typer.Option(..., "--run", help=RUN_HELP),
    num_samples: int = typer.Option(1000, help="samples per generator (same seeds for teacher and student)"),
    steps: str = typer.Option("2..10", help="teacher Heun step counts: A..B, a comma list or one number, "
                              "each 1..256 (EDM's longest sampler)"),
    first_seed: int = typer.Option(0, help="first sample seed; seeds first..first+N-1 stay below 2^63"),
    results: Optional[Path] = typer.Option(None, help=RESULTS_HELP),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    quiet: bool = typer.Option(False, help="no progress"),
) -> None:
    """FD between the N-step teacher and the one-step student (N = 2..10), and each against the data."""
    from harness.analyze.common import parse_steps
    from harness.analyze.mismatch import analyse_mismatch
    from harness.progress import phases_shown

    with phases_shown(not quiet):  # nine teachers of up to 19 NFE: minutes on a CPU
        path = analyse_mismatch(run, num_samples, parse_steps(steps), first_seed, results, device)
    typer.echo(str(path))


@analyze_app.command("spectrum")
def spectrum(
    run: Path = typer.Option(..., "--run", help=RUN_HELP),
    num_samples: int = typer.Option(1000, help="images per set (real, teacher, before, after)"),
    teacher_steps: int = typer.Option(18, help="Heun steps of the teacher (NFE = 2N - 1), 1..256 (EDM's longest "
                                      "sampler)"),
    first_seed: int = typer.Option(0, help="first sample seed; seeds first..first+N-1 stay below 2^63"),
    results: Optional[Path] = typer.Option(None, help=RESULTS_HELP),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    quiet: bool = typer.Option(False, help="no progress"),
) -> None:
    """Radially averaged power spectra: real, teacher, one step before and after fine-tuning; error per band."""
    from harness.analyze.spectrum import analyse_spectrum
    from harness.progress import phases_shown

    with phases_shown(not quiet):  # a 35-NFE teacher: minutes on a CPU
        path = analyse_spectrum(run, num_samples, teacher_steps, first_seed, results, device)
    typer.echo(str(path))
