"""`bench verify`: re-run every record marked as a regression reference and compare its metrics."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from harness.records import load_records


def compare(old: list[dict], new: list[dict], tolerance_rel: float) -> list[str]:
    """Lines describing each metric that moved beyond tolerance (empty when all agree)."""
    new_by_name = {m["name"]: m for m in new}
    problems = []
    for m in old:
        if m["name"] not in new_by_name:
            problems.append(f"{m['name']}: missing in the re-run")
            continue
        a, b = m["value"], new_by_name[m["name"]]["value"]
        if abs(a - b) > tolerance_rel * max(abs(a), 1e-12):
            problems.append(f"{m['name']}: stored {a:.6g}, re-run {b:.6g} (tolerance {tolerance_rel:.0%})")
    return problems


def rerun_like(record: dict, config, scratch: Path, run) -> Path:
    """Re-run with the recorded CPU thread count (see `seeding.cpu_threads`)."""
    from harness.seeding import cpu_threads

    with cpu_threads(record["environment"]["hardware"].get("cpu_threads")):
        return run(config, scratch, show_progress=False, keep_generator=False)


def verify_references(results_dir: Path) -> tuple[bool, list[str]]:
    from harness.runner import config_from_record, run

    records, problems = load_records(results_dir)
    lines = [f"warning: {p}" for p in problems]
    references = [r for r in records if r.get("reference") and r.get("status") == "completed"]
    if not references:
        return False, lines + [f"no reference records in {results_dir}"]
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as scratch:
        for record in references:
            config = config_from_record(record)
            hardware = record["environment"]["hardware"]
            config.device = "cpu" if hardware["device"] == "cpu" else config.device
            path = rerun_like(record, config, Path(scratch), run)
            new = json.loads(path.read_text())
            bad = compare(record["metrics"], new["metrics"], float(record["reference"].get("tolerance_rel", 0.05)))
            identical = all(abs(a["value"] - b["value"]) == 0 for a, b in zip(record["metrics"], new["metrics"]))
            status = "FAIL" if bad else ("ok (identical)" if identical else "ok (within tolerance)")
            lines.append(f"{record['run_id']}: {status}" + "".join(f"\n  {b}" for b in bad))
            ok = ok and not bad
    return ok, lines
