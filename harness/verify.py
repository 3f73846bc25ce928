"""`bench verify`: re-run every record marked as a regression reference and compare its metrics."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from harness import numerics
from harness.errors import BenchError
from harness.fresh_processes import run_in_fresh_processes
from harness.records import load_records

DEFAULT_TOLERANCE = 0.05
MAX_TOLERANCE = 0.5  # a reference that tolerates more than half its value checks nothing


def finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def compare(old: list[dict], new: list[dict], tolerance_rel: float) -> list[str]:
    """Lines describing each metric that moved beyond tolerance or is not a finite number in the
    re-run (empty when all agree): NaN never compares as "within tolerance"."""
    new_by_name = {m["name"]: m for m in new}
    problems = []
    for m in old:
        if m["name"] not in new_by_name:
            problems.append(f"{m['name']}: missing in the re-run")
            continue
        a, b = m["value"], new_by_name[m["name"]]["value"]
        if not finite(a) or not finite(b):
            problems.append(f"{m['name']}: stored {a}, re-run {b} (not a finite number)")
        elif abs(a - b) > tolerance_rel * max(abs(a), 1e-12):
            problems.append(f"{m['name']}: stored {a:.6g}, re-run {b:.6g} (tolerance {tolerance_rel:.0%})")
    return problems


def rerun_metrics(record: dict, scratch: str, until_kimg: float | None = None, show_progress: bool = False) -> list[dict]:
    """Re-run one reference as it was made (CPU when it ran on CPU, its CPU thread count: see
    `seeding.cpu_threads`), to its end or only to the curve point at ``until_kimg``, and return the
    new record's metrics. ``show_progress``: lines that begin with the reference's run id (re-runs
    side by side share one terminal)."""
    import contextlib

    from harness.progress import labelled_lines
    from harness.runner import run
    from harness.seeding import cpu_threads

    config = reference_config(record)
    if until_kimg is not None:  # a run that stops at a curve point ends in that point's state
        point = curve_point(record, until_kimg)
        config.train.budget_kimg = until_kimg
        config.eval.num_samples = point["num_samples"]
    hardware = record["environment"]["hardware"]
    labelled = labelled_lines(record["run_id"]) if show_progress else contextlib.nullcontext()
    with cpu_threads(hardware.get("cpu_threads")), labelled:
        path = run(config, Path(scratch), show_progress=show_progress, keep_generator=False)
    return json.loads(path.read_text())["metrics"]


def curve_point(record: dict, kimg: float) -> dict:
    """The stored curve point a re-run stopped at ``kimg`` must reproduce. Sound only where the run's
    schedule does not depend on its budget (the record says; tests/harness/test_curves.py shows that
    such a point is what a run of that budget ends with); otherwise, or without the point, one line."""
    from harness.errors import UsageError

    curve = record.get("curve") or {}
    run_id = record.get("run_id")
    if curve.get("schedule_depends_on_budget", True):
        raise UsageError(f"reference {run_id}: its schedule depends on its budget (or it has no curve), so no "
                         f"shorter run reproduces a curve point; verify it without --until-kimg")
    for point in curve.get("points") or []:
        if point.get("kimg") == kimg and point.get("metrics"):
            return point
    kept = ", ".join(f"{p.get('kimg'):g}" for p in curve.get("points") or [])
    raise UsageError(f"reference {run_id}: no curve point at {kimg:g} kimg (its points: {kept or 'none'})")


def reference_config(record: dict):
    """The config a reference record was made with, checked like a new run's (one line on failure)."""
    from harness.build import config_from_record
    from harness.validate import check_run_config

    config = config_from_record(record, record.get("_path", f"record {record.get('run_id')}"))
    hardware = ((record.get("environment") or {}).get("hardware") or {})
    config.device = "cpu" if hardware.get("device") == "cpu" else config.device
    check_run_config(config)
    return config


def parallel_workers(references: list[dict]) -> int:
    """How many CPU references can re-run side by side, each with its own recorded thread count
    (so the numbers are those of a one-after-another re-run); GPU references run one at a time."""
    hardware = [r["environment"]["hardware"] for r in references]
    if any(h["device"] != "cpu" for h in hardware):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(int(h.get("cpu_threads") or cores) for h in hardware)
    return max(1, min(len(references), cores // threads))


def made_with(record: dict) -> str:
    """The numerics a record was made with (records from before they were stored: native)."""
    return ((record.get("environment") or {}).get("hardware") or {}).get("numerics", "native")


def environment_notes(references: list[dict]) -> list[str]:
    """A note per way this environment differs from the one a reference was made in (not an error:
    numbers may still agree, but a disagreement is then explained by more than the code)."""
    from harness.records import package_state

    now = package_state()
    here: tuple[str, str] | None = None  # the CPU and kernel level native re-runs get, found when needed
    notes = []
    for record in references:
        then = record.get("environment", {}).get("packages") or {}
        for key, what in (("lock_sha256", "the lock file differs"), ("installed_sha256", "the installed packages differ")):
            if then.get(key) and then[key] != now[key]:
                notes.append(f"note: {record['run_id']}: {what} from what it was made with "
                             f"({key} {then[key][:12]} then, {str(now[key])[:12]} now)")
        hardware = record.get("environment", {}).get("hardware") or {}
        if hardware.get("device") != "cpu" or made_with(record) != "native":
            continue
        then_cpu = (hardware.get("cpu_model", "an unrecorded CPU"), hardware.get("cpu_capability", "?"))
        here = here or (numerics.cpu_model(), numerics.native_cpu_capability())
        if then_cpu != here:
            notes.append(f"note: {record['run_id']}: made with native CPU numerics on {then_cpu[0]} ({then_cpu[1]}), "
                         f"re-run on {here[0]} ({here[1]}): float results differ between kinds of CPU; "
                         f"references made with BENCH_NUMERICS=portable do not")
    return notes


def tolerance_of(record: dict) -> float:
    """The reference's relative tolerance: a finite number in [0, MAX_TOLERANCE] (one line otherwise)."""
    from harness.validate import check_number

    value = (record.get("reference") or {}).get("tolerance_rel", DEFAULT_TOLERANCE)
    check_number(f"reference {record.get('run_id')}: tolerance_rel", value, minimum=0, maximum=MAX_TOLERANCE)
    return float(value)


def check_reference_entries(record: dict) -> None:
    """The record's parts a re-run reads, of the types a run writes (harness/record_shape.py), and those
    a re-run cannot do without: a hand-edited one is one line, before any re-run."""
    from harness.record_shape import shape_problem
    from harness.threads import MAX_THREADS

    problem = shape_problem(record)
    if problem is None:  # the types are a run's: what is left is presence and range
        hardware = (record.get("environment") or {}).get("hardware") or {}
        threads = hardware.get("cpu_threads")
        problem = next((what for bad, what in [
            (not isinstance(hardware.get("device"), str), "it lacks environment.hardware.device"),
            (threads is not None and not 1 <= threads <= MAX_THREADS,
             f"its cpu_threads {threads!r} is not a whole number from 1 to {MAX_THREADS}"),
            (any(m.get("name") is None for m in record.get("metrics") or []), "a stored metric has no name"),
            (any(not finite(p.get("kimg")) for p in (record.get("curve") or {}).get("points") or []),
             "a curve point's kimg is not a number")] if bad), None)
    else:
        problem = f"malformed record ({problem})"
    if problem:
        raise BenchError(f"reference {record.get('run_id')}: {problem}; it cannot be verified")


def check_stored_metrics(record: dict, config) -> None:
    """A reference vouches for every metric its own config measured, each a finite number: a record
    with no metrics, fewer than its config names, or a NaN is refused before anything re-runs."""
    from harness.metrics import METRICS

    stored = {m.get("name"): m.get("value") for m in record.get("metrics") or [] if isinstance(m, dict)}
    for name in dict.fromkeys(METRICS.get(n).name for n in config.eval.metrics):
        if name not in stored:
            raise BenchError(f"reference {record.get('run_id')}: its stored metrics lack '{name}', which its config "
                             f"measures ({', '.join(config.eval.metrics)}); it cannot be verified")
    for name, value in stored.items():
        if not finite(value):
            raise BenchError(f"reference {record.get('run_id')}: stored {name} is {value!r}, not a finite number; "
                             f"it cannot be verified")


def plan_line(references: list[dict], mode: str, workers: int, until_kimg: float | None) -> str:
    """What is about to re-run and for about how long, from the references' own recorded wall times
    (at the curve point for ``until_kimg``): their machine's speed, not necessarily this one's."""
    seconds = []
    for record in references:
        timing = curve_point(record, until_kimg) if until_kimg is not None else record.get("timing") or {}
        seconds.append(timing.get("wall_seconds") if finite(timing.get("wall_seconds")) else math.nan)
    where = "to the end" if until_kimg is None else f"to {until_kimg:g} kimg"
    line = (f"verify: re-running {len(references)} reference{'s' if len(references) != 1 else ''} "
            f"({mode} numerics) {where}, {workers} side by side")
    if not all(math.isfinite(x) for x in seconds):
        return line + "; no recorded time to estimate from"
    estimate = max(max(seconds), sum(seconds) / workers)
    return line + f": about {estimate:,.0f} s by their recorded times (rough: another machine or load moves it)"


def verify_references(results_dir: Path, until_kimg: float | None = None, show_progress: bool = False,
                      echo=None) -> tuple[bool, list[str]]:
    """Re-run every completed reference and compare its metrics: all of it, or with ``until_kimg``
    only up to that curve point (a quick check of the same numerics on a fraction of the cost).
    ``echo`` (e.g. the terminal's) hears the plan before each group re-runs; ``show_progress``:
    each re-run reports its training and evaluation in lines that begin with its run id."""
    from harness.validate import check_number, check_results_dir

    check_results_dir(Path(results_dir), must_exist=True)
    if until_kimg is not None:
        check_number("--until-kimg", until_kimg, above=0)
    records, problems = load_records(results_dir, check_shape=False)  # a malformed reference: refused below
    lines = [f"warning: {p}" for p in problems]
    references = [r for r in records if r.get("reference") and r.get("status") == "completed"]
    if not references:
        return False, lines + [f"no reference records in {results_dir} (a reference is a completed run made with "
                               "`bench run --reference`)"]
    for record in references:  # every reference's config first: a foreign one fails before any re-run
        check_reference_entries(record)
        check_stored_metrics(record, reference_config(record))
        tolerance_of(record)
        if until_kimg is not None:
            curve_point(record, until_kimg)
    reruns: dict[int, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as scratch:
        # Fresh processes, each with the numerics its references were made with (harness/numerics.py:
        # fixed when torch loads) and its own thread count; nothing is shared with this process.
        for mode in numerics.MODES:
            group = [i for i, r in enumerate(references) if made_with(r) == mode]
            if not group:
                continue
            members = [references[i] for i in group]
            workers = parallel_workers(members)
            if echo is not None:
                echo(plan_line(members, mode, workers, until_kimg))
            # Fresh processes that ignore Ctrl-C (this one answers it and ends them); on Ctrl-C, a failed
            # re-run or one whose process died (out of memory) no queued re-run starts: fresh_processes.py.
            with numerics.child_environment(mode):
                jobs = [(record, scratch, until_kimg, show_progress) for record in members]
                outcomes = run_in_fresh_processes(rerun_metrics, jobs, workers, [r["run_id"] for r in members])
            for i, metrics in zip(group, outcomes):
                reruns[i] = metrics
    reruns = [reruns[i] for i in range(len(references))]
    ok = True
    lines += environment_notes(references)
    where = "" if until_kimg is None else f" at {until_kimg:g} kimg"
    for record, new in zip(references, reruns):
        stored = record["metrics"] if until_kimg is None else curve_point(record, until_kimg)["metrics"]
        bad = compare(stored, new, tolerance_of(record))
        identical = len(stored) == len(new) and all(a["value"] == b["value"] for a, b in zip(stored, new))
        status = "FAIL" if bad else ("ok (identical)" if identical else "ok (within tolerance)")
        lines.append(f"{record['run_id']}: {status}{where}" + "".join(f"\n  {b}" for b in bad))
        ok = ok and not bad
    return ok, lines
