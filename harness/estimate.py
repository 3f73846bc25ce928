"""How long CPU work will take, said before it starts (issue #26: "silent minutes").

The estimate is read off the stored records of the same results folder: the median training speed
(images/s) of completed runs of the same method and dataset on a CPU, and their final evaluation's
seconds per sample, scaled to the planned budget, sample count and curve points. It is rough
(other load, another thread count, real features not yet cached all move it), says what it rests
on, and names the runs it has nothing to go on for. On a GPU nothing is printed: jobs are short.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from harness.curves import CurveSchedule


@dataclass
class Estimate:
    seconds: float = 0.0
    known: int = 0
    unknown: list[str] = field(default_factory=list)
    basis: int = 0  # stored runs the speeds come from

    def line(self, what: str) -> str:
        parts = []
        if self.known:
            parts.append(f"about {_duration(self.seconds)} for {self.known} of {self.known + len(self.unknown)} "
                         f"(from the speed of {self.basis} stored CPU run{'s' if self.basis != 1 else ''} of the "
                         f"same method and dataset; rough)")
        if self.unknown:
            parts.append(f"no stored CPU run to estimate {', '.join(sorted(set(self.unknown)))}")
        return f"estimate: {what}: " + "; ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _on_cpu(record: dict) -> bool:
    device = ((record.get("environment") or {}).get("hardware") or {}).get("device") or ""
    return str(device).startswith("cpu")


def speeds(stored: list[dict]) -> dict[tuple[str, str], dict[str, float]]:
    """(method, dataset) -> median training images/s and final-evaluation seconds per sample, CPU runs only."""
    grouped: dict[tuple[str, str], list[dict]] = {}
    for record in stored:
        if record.get("status") == "completed" and _on_cpu(record) and "evaluation" not in record \
                and "analysis" not in record:
            grouped.setdefault((record.get("method"), record.get("dataset")), []).append(record)
    out = {}
    for key, group in grouped.items():
        train = [r["timing"]["images_per_second"] for r in group
                 if (r.get("timing") or {}).get("images_per_second")]
        per_sample = []
        for r in group:
            samples = max((m.get("num_samples") or 0 for m in r.get("metrics") or []), default=0)
            final = (r.get("timing") or {}).get("final_eval_seconds")
            if samples and final:
                per_sample.append(final / samples)
        out[key] = {"images_per_second": statistics.median(train) if train else 0.0,
                    "eval_seconds_per_sample": statistics.median(per_sample) if per_sample else 0.0,
                    "runs": len(group)}
    return out


def estimate_runs(configs: list, stored: list[dict], trains: dict[str, bool]) -> Estimate:
    """Seconds for ``configs`` (RunConfig) on a CPU; ``trains``: method -> whether it trains."""
    table = speeds(stored)
    result = Estimate()
    used = set()
    for config in configs:
        key = (config.method, config.dataset)
        speed = table.get(key)
        trains_here = trains.get(config.method, True)
        if speed is None or (trains_here and not speed["images_per_second"]) or not speed["eval_seconds_per_sample"]:
            result.unknown.append(f"{config.method} on {config.dataset}")
            continue
        curve = CurveSchedule.from_config(config.eval, config.train.budget_kimg).targets() if trains_here else []
        curve_samples = config.eval.curve_num_samples or config.eval.num_samples
        seconds = speed["eval_seconds_per_sample"] * (config.eval.num_samples + len(curve) * curve_samples)
        if trains_here:
            seconds += config.train.budget_kimg * 1000 / speed["images_per_second"]
        result.seconds += seconds
        result.known += 1
        if key not in used:
            used.add(key)
            result.basis += speed["runs"]
    return result


LONG_SECONDS = 30.0  # a single run estimated shorter than this gets no line


def say_run_estimate(config, results, echo) -> None:
    """Before one `bench run` on a CPU: its estimate, when there is one and it is long."""
    from baselines import METHODS
    from harness.build import resolve_device
    from harness.records import load_records

    if resolve_device(config.device).type != "cpu":
        return
    estimate = estimate_runs([config], load_records(results)[0], {config.method: METHODS.get(config.method).trains})
    if estimate.known and estimate.seconds >= LONG_SECONDS:
        echo(estimate.line(f"{config.method} on {config.dataset}"))
