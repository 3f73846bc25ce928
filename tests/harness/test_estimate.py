"""The estimate said before CPU work (harness/estimate.py): scaled from stored runs' speeds."""

from __future__ import annotations

import pytest

from harness.build import configure
from harness.estimate import estimate_runs, speeds
from harness.sweep import say_estimate


def stored(method: str, dataset: str = "digits", images_per_second: float = 100.0, final: float = 2.0,
           samples: int = 1000, device: str = "cpu") -> dict:
    return {"status": "completed", "method": method, "dataset": dataset,
            "timing": {"images_per_second": images_per_second, "final_eval_seconds": final},
            "metrics": [{"name": "fd", "num_samples": samples}],
            "environment": {"hardware": {"device": device}}}


def test_training_and_evaluation_time_are_scaled_from_the_median_stored_run() -> None:
    records = [stored("gan_only", images_per_second=v) for v in (50.0, 100.0, 400.0)] + \
        [stored("gan_only", images_per_second=1e6, device="cuda:0")]  # GPU runs say nothing about a CPU
    assert speeds(records)[("gan_only", "digits")] == {"images_per_second": 100.0, "eval_seconds_per_sample": 0.002,
                                                       "runs": 3}
    config = configure("gan_only", "digits", budget_kimg=2.0, device="cpu", num_samples=500,
                       overrides=["eval.every_kimg=0.5"])  # curve points at 0.5, 1 and 1.5 kimg
    estimate = estimate_runs([config, config], records, {"gan_only": True})
    per_run = 2000 / 100.0 + 0.002 * (500 + 3 * 500)
    assert estimate.seconds == pytest.approx(2 * per_run) and estimate.known == 2 and estimate.basis == 3
    assert estimate.line("2 runs") == ("estimate: 2 runs: about 48 s for 2 of 2 (from the speed of 3 stored CPU runs "
                                       "of the same method and dataset; rough)")


def test_runs_without_a_stored_speed_are_named() -> None:
    config = configure("dmd", "digits", budget_kimg=1.0, device="cpu", num_samples=100)
    estimate = estimate_runs([config], [stored("gan_only")], {"dmd": True})
    assert estimate.known == 0 and estimate.line("1 run") == "estimate: 1 run: no stored CPU run to estimate dmd on digits"


def test_the_sweep_says_it_only_for_the_cpu() -> None:
    config = configure("gan_only", "digits", budget_kimg=1.0, device="cpu", num_samples=100)
    lines: list[str] = []
    say_estimate([(None, config)], [stored("gan_only")], "cpu", lines.append)
    assert lines == ["estimate: 1 run to do on the CPU: about 10 s for 1 of 1 (from the speed of 1 stored CPU run of "
                     "the same method and dataset; rough)"]


def test_a_long_single_run_is_estimated_and_a_short_one_is_not(tmp_path) -> None:
    import json

    from harness.estimate import say_run_estimate

    run = tmp_path / "digits-gan_only-s0-x"
    run.mkdir()
    (run / "record.json").write_text(json.dumps({**stored("gan_only", images_per_second=10.0), "run_id": run.name,
                                                 "schema_version": 1}))
    lines: list[str] = []
    say_run_estimate(configure("gan_only", "digits", budget_kimg=0.1, device="cpu", num_samples=100), tmp_path,
                     lines.append)
    assert lines == []  # 10 s: not worth a line
    say_run_estimate(configure("gan_only", "digits", budget_kimg=1.0, device="cpu", num_samples=100), tmp_path,
                     lines.append)
    assert lines == ["estimate: gan_only on digits: about 2 min for 1 of 1 (from the speed of 1 stored CPU run of the "
                     "same method and dataset; rough)"]
