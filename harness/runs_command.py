"""`bench runs` (the stored runs as a table) and `bench show RUN` (one run's summary).

Both read only what is on disk: finished records, and runs that stopped before their record
(their `checkpoint/run.json`, written before the first step), listed as unfinished with the
command that continues them.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Optional

import typer

from harness import records
from harness.run_references import find_record  # shared with `bench run --from-record`
from harness.errors import UsageError
from harness.record_shape import shape_problem
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
        if shape_problem({"run_id": run_dir.name, "status": "unfinished", "config": config}):
            config = {}  # settings of types no run writes (a hand edit): the row shows the folder alone
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


KINDS = ("run", "eval", "analysis")
STATUSES = ("completed", "failed", "unfinished")


def _listed(text: str | None) -> set[str]:
    return {part.strip() for part in (text or "").split(",") if part.strip()}


def _known(field: str) -> set[str]:
    """The values of a filter field that bench knows, for a value no stored run has (an empty answer,
    not a typo). The registries load torch, so they are read only then."""
    if field in ("kind", "status"):
        return set(KINDS if field == "kind" else STATUSES)
    if field == "method":
        from baselines import METHODS
        return set(METHODS.names())
    from harness.data import DATASETS
    return set(DATASETS.names())


def _shown(row: dict, field: str) -> str:
    """A row's value as the filters match it: "unfinished (bench run --resume ...)" is "unfinished"."""
    return str(row[field]).split(" (")[0]


def select(rows: list[dict], wanted: dict[str, set[str]], seeds: set[int] | None) -> list[dict]:
    """The rows whose method, dataset, kind and status are among those asked for (each field: any of
    its values; fields: all); a value neither stored nor known to bench is a usage error (a typo must
    not read as "no such runs"); user data (`folder:`, `zip:`) is known by its stored runs alone."""
    for field, values in wanted.items():
        stored = {_shown(row, field) for row in rows}
        unknown = sorted(values - stored)
        known = _known(field) if unknown else set()
        for value in unknown:
            if value not in known and not (field == "dataset" and value.startswith(("folder:", "zip:"))):
                raise UsageError(f"--{field} {value}: no stored run has it, and it is not a {field} bench knows "
                                 f"({', '.join(sorted(known))})")
    return [row for row in rows
            if all(_shown(row, field) in values for field, values in wanted.items())
            and (seeds is None or row["seed"] in seeds)]


def runs(results: Path = typer.Option(DEFAULT_RESULTS, help="results directory"),
         method: Optional[str] = typer.Option(None, help="only these methods (comma-separated, e.g. gan_only,dmd)"),
         dataset: Optional[str] = typer.Option(None, help="only these datasets (comma-separated)"),
         kind: Optional[str] = typer.Option(None, help="only these kinds: run, eval, analysis (comma-separated)"),
         status: Optional[str] = typer.Option(None, help="only these statuses: completed, failed, unfinished"),
         seeds: Optional[str] = typer.Option(None, help="only these seeds, as `bench sample` takes them: 0-2, 1,5"),
         json_: bool = typer.Option(False, "--json", help="one JSON list of the runs' summaries")) -> None:
    """List the stored runs: method, dataset, budget, seed, metrics and their sample counts, status."""
    from harness.seed_ranges import parse_seeds

    wanted = {field: _listed(text) for field, text in
              (("method", method), ("dataset", dataset), ("kind", kind), ("status", status)) if _listed(text)}
    seed_set = set(parse_seeds(seeds)) if seeds is not None else None
    rows, problems = collect(results)
    for line in problems:
        typer.echo(f"warning: {line}", err=True)
    rows = select(rows, wanted, seed_set)
    if json_:
        typer.echo(json.dumps(rows, indent=2, allow_nan=False))
    elif not rows:
        asked = " ".join(f"--{f} {','.join(sorted(v))}" for f, v in wanted.items()) + (f" --seeds {seeds}" if seeds else "")
        typer.echo(f"no runs in {results}" + (f" match {asked.strip()}" if asked.strip() else ""))
    else:
        typer.echo(table(rows))


def show(run: str = typer.Argument(..., help="a run id (or its unique beginning), run folder or record.json"),
         results: Path = typer.Option(DEFAULT_RESULTS, help="results directory"),
         json_: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Print one stored run's summary: metrics with feature space and samples, NFE, images, seconds, path."""
    path = find_record(run, results)
    read_record(path)  # a clear error for a file that is not a record
    typer.echo(render_summary(path, json_))
