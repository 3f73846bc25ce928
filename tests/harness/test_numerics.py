"""Portable CPU numerics (harness/numerics.py): BENCH_NUMERICS=portable pins ATen, MKL and oneDNN to
code paths every x86-64 CPU runs alike, records say which numerics and CPU made them, and `bench
verify` re-runs each reference in a fresh process with the numerics it was made with."""

from __future__ import annotations

import json
import os

import pytest

from harness import numerics
from harness.errors import UsageError
from helpers import run_bench


def test_the_request_sets_every_library_variable_and_nothing_else() -> None:
    env = {"BENCH_NUMERICS": "portable"}
    assert numerics.apply_request(env) == "portable" and all(env[k] == v for k, v in numerics.PORTABLE_ENV.items())
    assert numerics.apply_request({}) == "native"
    assert numerics.current_mode({**numerics.PORTABLE_ENV, "MKL_CBWR": "AVX2"}) == "native"  # one off: not portable
    with pytest.raises(UsageError, match="BENCH_NUMERICS"):
        numerics.apply_request({"BENCH_NUMERICS": "fast"})


def test_child_environment_is_restored_after_the_block(monkeypatch) -> None:
    monkeypatch.delenv("MKL_CBWR", raising=False)
    with numerics.child_environment("portable"):
        assert numerics.current_mode() == "portable"
    assert "MKL_CBWR" not in os.environ


def test_a_portable_reference_records_its_numerics_and_verifies_identically(tmp_path) -> None:
    """A tiny portable reference, verified from this (native) pytest process: the re-run happens in a
    fresh process with the portable variables, so it is identical; a native process would differ in
    its record's numerics entry (checked on the record itself)."""
    from harness.verify import verify_references

    results = tmp_path / "results"
    made = run_bench("run", "--method", "gan_only", "--dataset", "digits", "--budget-kimg", "0.064", "--results",
                     str(results), "--set", "train.batch_size=32", "--set", "eval.num_samples=64",
                     "--set", "eval.every_kimg=0", "--reference", "--quiet", env={"BENCH_NUMERICS": "portable"})
    assert made.returncode == 0, made.stderr
    (record_path,) = results.glob("*/record.json")
    hardware = json.loads(record_path.read_text())["environment"]["hardware"]
    assert hardware["numerics"] == "portable" and hardware["cpu_capability"] == "DEFAULT"
    assert hardware["cpu_model"]
    ok, lines = verify_references(results)
    assert ok and any(line.endswith("ok (identical)") for line in lines), lines


def test_verify_notes_a_native_reference_made_on_another_kind_of_cpu() -> None:
    from harness.records import package_state
    from harness.verify import environment_notes

    here = {"device": "cpu", "cpu_model": numerics.cpu_model(), "cpu_capability": numerics.native_cpu_capability()}
    packages = dict(package_state())
    same = {"run_id": "same", "environment": {"packages": packages, "hardware": here}}
    elsewhere = "AVX512" if here["cpu_capability"] != "AVX512" else "AVX2"  # another kind of CPU than this one
    other = {"run_id": "amd", "environment": {"packages": packages, "hardware": {
        **here, "cpu_model": "AMD EPYC (another)", "cpu_capability": elsewhere}}}
    portable = {"run_id": "p", "environment": {"packages": packages, "hardware": {**other["environment"]["hardware"],
                                                                                   "numerics": "portable"}}}
    notes = environment_notes([same, other, portable])
    assert len(notes) == 1 and notes[0].startswith(
        f"note: amd: made with native CPU numerics on AMD EPYC (another) ({elsewhere})")
