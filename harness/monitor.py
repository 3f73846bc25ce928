"""The training loop's one hook: after each step, log the step group and measure due curve points.

Keeps the runner's loop small: it asks the curve schedule which points a step crossed (on every
rank, so the divergence check before a point stays a collective all ranks join) and calls
``after_step`` on the writer rank, which returns the seconds spent evaluating so they are not
counted as training time. Curve points live in the loop state (``loop['curve']``) and are checkpointed with it.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from harness.curves import CurveRecorder
from harness.training_log import TrainingLog


class RunMonitor:
    def __init__(self, curve: CurveRecorder, log: TrainingLog | None, grid_size: int = 8,
                 schedule_depends_on_budget: bool = False, snapshots=None):
        self.curve, self.log, self.grid_size = curve, log, grid_size
        self.snapshots = snapshots  # harness.snapshots.SnapshotKeeper: the generators behind curve points
        self.schedule_depends_on_budget = schedule_depends_on_budget  # what the record says about early points

    def attach(self, loop: dict[str, Any]) -> None:
        """Share the loop's curve list (restored on resume) and start the log group where it stands."""
        loop.setdefault("curve", [])
        loop.setdefault("eval_seconds", 0.0)
        self.curve.points = loop["curve"]
        if self.log is not None:
            self.log.start(loop["images_seen"], loop["train_seconds"])

    def after_step(self, method, ema: torch.nn.Module, loop: dict[str, Any], losses: dict, targets: list[int],
                   train_seconds: float, last: bool) -> float:
        if self.log is not None:
            self.log.step(method, losses, loop["images_seen"], loop["step"], train_seconds, last)
        spent = 0.0
        if targets:  # one measurement even if a big batch crossed two targets; it is named by the last
            point, samples, spent = self.curve.measure_now(ema, targets[-1] / 1000, loop["images_seen"], loop["step"],
                                                          train_seconds, loop["eval_seconds"])
            loop["eval_seconds"] += spent
            if self.snapshots is not None:
                self.snapshots.after_point(self.curve.points, ema)
            if self.log is not None:
                self.log.point(point, samples, self.grid_size)
        return spent

    def into_record(self, record: dict, stats: dict, completed: bool, final_metrics: list[dict], final_samples,
                    final_eval_seconds: float, generator: torch.nn.Module, budget_kimg: float) -> float:
        """At the end of a run (completed or failed): add the final point, put the curve and the best
        snapshot into the record where a curve exists, take the curve out of the training ``stats``,
        and close the log. Returns the seconds spent measuring curve points."""
        from harness.curves import best_point

        stats.pop("curve", None)
        points = self.curve.points
        seconds = stats.pop("curve_eval_seconds", points[-1]["eval_seconds"] if points else 0.0)
        if completed and self.curve.schedule.active:
            start = time.perf_counter()
            self.curve.finish(budget_kimg, stats["images_seen"], stats["steps"], final_metrics, stats["train_seconds"],
                              seconds + final_eval_seconds, generator)
            seconds += time.perf_counter() - start
        if completed and self.log is not None:  # the final result goes to TensorBoard with or without a curve
            final = self.curve.points[-1] if self.curve.schedule.active else self.curve.make_point(
                budget_kimg, stats["images_seen"], stats["steps"], final_metrics, stats["train_seconds"],
                final_eval_seconds, final=True)
            self.log.point(final, final_samples, self.grid_size)
        if self.curve.schedule.active:
            record["curve"] = self.curve.record(self.schedule_depends_on_budget)
            record["best_snapshot"] = best_point(self.curve.points)
            if self.snapshots is not None and completed:
                record["snapshots"] = self.snapshots.finish(self.curve.points)
        self.close()
        return seconds

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


def build_monitor(config, run_dir, device: torch.device, measure, callbacks=(), resume_images: int | None = None,
                  schedule_depends_on_budget: bool = False, generator: torch.nn.Module | None = None) -> RunMonitor:
    """The monitor of one run: its curve schedule from ``config.eval``, its log from ``config.train``,
    and (given the ``generator``) the snapshots ``train.keep_snapshots`` keeps, checked against free disk."""
    from harness.curves import CurveSchedule

    ec, tc = config.eval, config.train
    schedule = CurveSchedule.from_config(ec, tc.budget_kimg)
    curve_samples = int(ec.curve_num_samples) if ec.curve_num_samples else int(ec.num_samples)
    curve = CurveRecorder(schedule, measure, min(curve_samples, ec.num_samples), ec.num_samples, device, list(callbacks))
    log = TrainingLog(run_dir, int(round(tc.log_every_kimg * 1000)), device, tc.tensorboard, resume_images)
    keeper = None
    if generator is not None and schedule.active:
        from harness.snapshots import SnapshotKeeper

        keeper = SnapshotKeeper.for_run(run_dir, tc.keep_snapshots, generator, len(schedule.targets()))
    return RunMonitor(curve, log, ec.grid_size, schedule_depends_on_budget, keeper)
