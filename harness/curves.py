"""Training curves: the EMA generator measured at points during a run, not only at its end.

The paper's Figure 1A (Zheng & Yang, arXiv 2506.09376, Fig. 1A) and its convergence claims are FID
against training images, and the authors report the snapshot with the lowest FID (measured every
250 kimg, as EDM and StyleGAN do with their `metric-*.jsonl`). A run with a curve schedule is
measured at every ``eval.every_kimg`` thousand images and at each ``eval.at_kimg`` budget, with the
run's own metrics and protocol (or ``eval.curve_num_samples`` samples, labelled as reduced); the
final point is the run's result. Points live in the training state, so a resumed run ends with the
curve an uninterrupted one has.

Measuring must not change what is trained: the evaluation samples come from per-seed generators
(EDM's protocol), and anything else that draws from the global RNG is undone by ``fork_rng``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

FD_NAMES = ("fd", "fid")
# A callback told of each measured point: ``on_point(point: dict)``. It may raise (e.g. Optuna's
# ``TrialPruned``) to stop the run; the exception propagates out of ``runner.run``.
PointCallback = Callable[[dict], None]


@dataclass(frozen=True)
class CurveSchedule:
    """When to measure: every ``every_images`` images and at each of ``at_images`` (both may be empty)."""

    every_images: int
    at_images: tuple[int, ...]
    budget_images: int

    @classmethod
    def from_config(cls, eval_config, budget_kimg: float) -> "CurveSchedule":
        every = int(round(eval_config.every_kimg * 1000)) if eval_config.every_kimg > 0 else 0
        at = tuple(sorted({int(round(k * 1000)) for k in eval_config.at_kimg if k > 0}))
        return cls(every, at, int(round(budget_kimg * 1000)))

    @property
    def active(self) -> bool:
        """A curve exists when at least one point falls inside the run (the end alone is no curve)."""
        return bool(self.targets())

    def targets(self) -> list[int]:
        """Nominal points in images, strictly inside the run (the end is the final evaluation)."""
        points = set(self.at_images)
        if self.every_images:
            points.update(range(self.every_images, self.budget_images, self.every_images))
        return sorted(p for p in points if 0 < p < self.budget_images)

    def due(self, before: int, after: int) -> list[int]:
        """Targets crossed by a step that took images seen from ``before`` to ``after``."""
        return [t for t in self.targets() if before < t <= after]


def point_fd(point: dict) -> dict | None:
    """The FD/FID metric entry of a point (its first), or None: what a tuner prunes on."""
    for metric in point.get("metrics") or []:
        if metric.get("name") in FD_NAMES and isinstance(metric.get("value"), (int, float)):
            return metric
    return None


def best_point(points: list[dict]) -> dict | None:
    """The point with the lowest FD/FID (the authors' best snapshot); ties go to the earlier point.

    Only points measured the same way are compared: the measurement of the first point's FD/FID.
    """
    scored = [(index, point_fd(point)) for index, point in enumerate(points) if point_fd(point) is not None]
    if not scored:
        return None
    key = measurement_key(scored[0][1])
    same = [(i, m) for i, m in scored if measurement_key(m) == key]
    index, metric = min(same, key=lambda im: (im[1]["value"], im[0]))
    point = points[index]
    return {"index": index, "kimg": point["kimg"], "images_seen": point["images_seen"], "final": point["final"],
            "metric": metric["name"], "value": metric["value"], "num_samples": metric.get("num_samples"),
            "reduced_samples": point.get("reduced_samples", False)}


def measurement_key(metric: dict) -> tuple:
    ref = metric.get("reference")
    ref_id = ref.get("id") if isinstance(ref, dict) else ref
    return (metric.get("name"), metric.get("extractor"), metric.get("implementation"), metric.get("num_samples"), ref_id)


class CurveRecorder:
    """Measures the EMA generator on the schedule and keeps the points.

    ``measure(generator, num_samples) -> (samples, metrics)`` is the run's own evaluation;
    ``on_point`` callbacks (TensorBoard, `bench tune`'s pruning) see every point, the final one too.
    """

    def __init__(self, schedule: CurveSchedule, measure: Callable, curve_samples: int, final_samples: int,
                 device: torch.device, callbacks: list[PointCallback] | None = None):
        self.schedule, self.measure = schedule, measure
        self.curve_samples, self.final_samples = curve_samples, final_samples
        self.device = device
        self.callbacks = list(callbacks or [])
        self.points: list[dict] = []

    @property
    def reduced(self) -> bool:
        return self.curve_samples < self.final_samples

    def load(self, points: list[dict]) -> None:
        """Points of a resumed run, as its checkpoint holds them."""
        self.points = [dict(p) for p in points]

    def measure_now(self, generator: torch.nn.Module, kimg: float, images_seen: int, step: int,
                    train_seconds: float, eval_seconds: float) -> tuple[dict, torch.Tensor, float]:
        """One intermediate point; returns it, its samples and the seconds it took."""
        start = time.perf_counter()
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type="cuda"):
            samples, metrics = self.measure(generator, self.curve_samples)
        seconds = time.perf_counter() - start
        point = self.make_point(kimg, images_seen, step, metrics, train_seconds, eval_seconds + seconds, final=False)
        self.points.append(point)
        self.notify(point)
        return point, samples, seconds

    def make_point(self, kimg: float, images_seen: int, step: int, metrics: list[dict], train_seconds: float,
                   eval_seconds: float, final: bool) -> dict:
        samples = self.final_samples if final else self.curve_samples
        return {"kimg": kimg, "images_seen": images_seen, "step": step, "final": final, "metrics": metrics,
                "num_samples": samples, "reduced_samples": samples < self.final_samples,
                "train_seconds": train_seconds, "eval_seconds": eval_seconds,
                "wall_seconds": train_seconds + eval_seconds}

    def finish(self, final_kimg: float, images_seen: int, step: int, final_metrics: list[dict], train_seconds: float,
               eval_seconds: float, generator: torch.nn.Module | None = None) -> None:
        """Append the end of the run: the run's result, plus (with reduced curve samples) the curve's
        own last point measured like the others, so the line stays one measurement."""
        if self.reduced and generator is not None:
            start = time.perf_counter()
            _, metrics = self.measure(generator, self.curve_samples)
            eval_seconds += time.perf_counter() - start
            point = self.make_point(final_kimg, images_seen, step, metrics, train_seconds, eval_seconds, final=False)
            self.points.append(point)
            self.notify(point)
        point = self.make_point(final_kimg, images_seen, step, final_metrics, train_seconds, eval_seconds, final=True)
        self.points.append(point)
        self.notify(point)

    def notify(self, point: dict) -> None:
        for callback in self.callbacks:
            callback(point)

    def record(self, schedule_depends_on_budget: bool) -> dict[str, Any]:
        """The record's ``curve``: schedule, points and whether intermediate points are snapshots of a
        longer schedule (a method whose schedule is set by the budget, like PD's halving rounds)."""
        return {"every_kimg": self.schedule.every_images / 1000, "at_kimg": [a / 1000 for a in self.schedule.at_images],
                "num_samples": self.curve_samples, "reduced_samples": self.reduced,
                "intermediate_points_are": ("snapshots of the full-budget schedule, not runs at that budget"
                                            if schedule_depends_on_budget else
                                            "the state a run at that budget ends in (the schedule does not depend on the budget)"),
                "schedule_depends_on_budget": schedule_depends_on_budget,
                "points": self.points}
