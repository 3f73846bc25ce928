"""The stored reference records in results/ reproduce: `bench verify` re-runs each one (CI runs this)."""

from pathlib import Path

from harness.records import load_records
from harness.verify import verify_references

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_results_hold_reference_records_for_three_seeds():
    records, problems = load_records(RESULTS)
    assert not problems, problems
    references = [r for r in records if r.get("reference")]
    assert sorted(r["seed"] for r in references if r["method"] == "gan_only") == [0, 1, 2]


def test_bench_verify_passes_on_stored_references():
    ok, lines = verify_references(RESULTS)
    assert ok, "\n".join(lines)
    assert sum("ok" in line for line in lines) >= 3
