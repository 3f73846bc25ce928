"""`bench runs` (the stored runs as a table) and `bench show RUN` (one run's summary).

Both read only what is on disk: finished records, and runs that stopped before their record
(their `checkpoint/run.json`, written before the first step), listed as unfinished with the
command that continues them.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import typer

from harness import records
from harness.run_references import find_record  # shared with `bench run --from-record`
from harness.errors import UsageError
from harness.summary import method_shown, read_record, render_summary, summarize

DEFAULT_RESULTS = Path("results")


def _unfinished(results: Path, finished: set[str]) -> list[dict]:
    """Runs with start settings but no record: killed, crashed or still training."""
    rows = []
    for start in sorted(results.glob("*/checkpoint/run.json")):
        run_dir = start.parent.parent
        if run_dir.name in finished or (run_dir / records.RECORD_NAME).exists():
            continue
        try:  # a FIFO would block the read for ever
            config = (json.loads(start.read_text()).get("config") or {}) if start.is_file() else {}
        except (OSError, ValueError, AttributeError):
            config = {}
        where = "" if results == DEFAULT_RESULTS else f" --results {shlex.quote(str(results))}"  # works as printed
        rows.append({"run_id": run_dir.name, "kind": "run", "status": f"unfinished (bench run --resume {run_dir.name}{where})",
                     "method": config.get("method"), "dataset": config.get("dataset"), "seed": config.get("seed"),
                     "budget_kimg": (config.get("train") or {}).get("budget_kimg"), "metrics": [],
                     "path": str(run_dir)})
    return rows


def collect(results: Path) -> tuple[list[dict], list[str]]:
    """A summary per stored run (finished and unfinished), plus one line per unreadable record."""
    results = Path(results)
    if results.exists() and not results.is_dir():
        raise UsageError(f"--results {results}: not a folder")
    if not results.is_dir():
        raise UsageError(f"--results {results}: no such folder (runs are stored where `bench run --results` wrote them)")
    stored, problems = records.load_records(results)
    rows = [summarize(r) for r in stored]
    rows += _unfinished(results, {r["run_id"] for r in rows})
    return sorted(rows, key=lambda r: str(r["run_id"])), problems


def metrics_cell(row: dict) -> str:
    return ", ".join(f"{m['name']} {m['value']:.4g}" if m["value"] is not None else f"{m['name']} -"
                     for m in row["metrics"]) or "-"


def samples_cell(row: dict) -> str:
    """The sample counts the metrics were measured on (FIDs of 20 and of 2,000 samples do not compare)."""
    counts = sorted({m["num_samples"] for m in row["metrics"] if m.get("num_samples")})
    return "/".join(f"{n:,}" for n in counts) or "-"


def table(rows: list[dict]) -> str:
    """A plain aligned table (greppable, no box drawing)."""
    header = ("run", "kind", "method", "dataset", "budget kimg", "seed", "metrics", "samples", "status")
    body = [(str(r["run_id"]), r["kind"], method_shown(r), str(r["dataset"]),
             "-" if r["budget_kimg"] is None else f"{r['budget_kimg']:g}", str(r["seed"]), metrics_cell(r),
             samples_cell(r), str(r["status"])) for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    fmt = lambda line: "  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(tuple("-" * w for w in widths)), *map(fmt, body)])


def runs(results: Path = typer.Option(DEFAULT_RESULTS, help="results directory"),
         json_: bool = typer.Option(False, "--json", help="one JSON list of the runs' summaries")) -> None:
    """List the stored runs: method, dataset, budget, seed, metrics and their sample counts, status."""
    rows, problems = collect(results)
    for line in problems:
        typer.echo(f"warning: {line}", err=True)
    if json_:
        typer.echo(json.dumps(rows, indent=2, allow_nan=False))
    elif not rows:
        typer.echo(f"no runs in {results}")
    else:
        typer.echo(table(rows))


def show(run: str = typer.Argument(..., help="a run id (or its unique beginning), run folder or record.json"),
         results: Path = typer.Option(DEFAULT_RESULTS, help="results directory"),
         json_: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Print one stored run's summary: metrics with feature space and samples, NFE, images, seconds, path."""
    path = find_record(run, results)
    read_record(path)  # a clear error for a file that is not a record
    typer.echo(render_summary(path, json_))
