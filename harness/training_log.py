"""What a researcher watches while a run trains: `stats.jsonl` and TensorBoard events per step group.

Every ``train.log_every_kimg`` thousand images (and at the end) one JSON line goes to
``results/<run>/stats.jsonl`` (as EDM's and StyleGAN's training loops write it): the mean of each
loss over the group's steps (R1 among them where the method returns it), each module's gradient
norm after the group's last step, each optimiser's learning rate, training images per second
(evaluation excluded) and, on a GPU, the peak memory allocated. The same scalars, the curve points
and a sample grid per point go to ``results/<run>/tensorboard/`` through ``torch.utils.tensorboard``
when the optional ``tensorboard`` package is installed; without it the run says so once and the
JSONL still appears. ``tensorboard --logdir results`` then shows every run.

Losses are summed on the device and read back once per group, so logging adds no host sync per step.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

STATS_FILE = "stats.jsonl"
TENSORBOARD_DIR = "tensorboard"
_TOLD: list[bool] = []  # the missing-TensorBoard note is printed once per process
INSTALL_HINT = ("note: TensorBoard event files are not written because the 'tensorboard' package is missing "
                "(pip install tensorboard, or pip install -e '.[tensorboard]'); {stats} has the same numbers")


def open_writer(log_dir: Path, purge_step: int | None, stats_path: Path):
    """A SummaryWriter, or None (said once) when TensorBoard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if not _TOLD:
            print(INSTALL_HINT.format(stats=stats_path), file=sys.stderr)
            _TOLD.append(True)
        return None
    return SummaryWriter(str(log_dir), purge_step=purge_step)


def keep_lines_until(path: Path, images_seen: int) -> None:
    """On resume: drop lines written after the checkpoint, which the resumed run writes again."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["progress/images_seen"] <= images_seen:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by the kill
    path.write_text("".join(f"{line}\n" for line in kept))


def gradient_norms(method) -> dict[str, float]:
    """L2 norm of each module's gradients as the group's last step left them (its last backward)."""
    norms = {}
    for name, module in method.modules().items():
        grads = [p.grad.detach().float().norm() for p in module.parameters() if p.grad is not None]
        if grads:
            norms[f"grad_norm/{name}"] = float(torch.linalg.vector_norm(torch.stack(grads)))
    return norms


class TrainingLog:
    """Accumulates per-step losses and writes one stats line (and TensorBoard scalars) per group."""

    def __init__(self, run_dir: Path, every_images: int, device: torch.device, tensorboard: bool = True,
                 resume_images: int | None = None):
        self.path = Path(run_dir) / STATS_FILE
        self.every = max(1, int(every_images))
        self.device = device
        if resume_images is not None:
            keep_lines_until(self.path, resume_images)
        self.writer = (open_writer(Path(run_dir) / TENSORBOARD_DIR,
                                   resume_images + 1 if resume_images is not None else None, self.path)
                       if tensorboard else None)
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.group_start: tuple[int, float] | None = None  # (images seen, train seconds) at the group's start
        self.next_line: int | None = None

    def start(self, images_seen: int, train_seconds: float) -> None:
        self.group_start = (images_seen, train_seconds)
        self.next_line = (images_seen // self.every + 1) * self.every
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def step(self, method, losses: dict[str, torch.Tensor], images_seen: int, step: int, train_seconds: float,
             last: bool) -> None:
        if self.group_start is None:
            self.start(images_seen, train_seconds)
        for name, value in losses.items():
            value = value.detach().float().sum()
            self.sums[name] = self.sums[name] + value if name in self.sums else value
            self.counts[name] = self.counts.get(name, 0) + 1
        if images_seen >= self.next_line or last:
            self.write(self.line(method, images_seen, step, train_seconds))
            self.start(images_seen, train_seconds)

    def line(self, method, images_seen: int, step: int, train_seconds: float) -> dict[str, Any]:
        images0, seconds0 = self.group_start
        seconds = train_seconds - seconds0
        line: dict[str, Any] = {"progress/kimg": images_seen / 1000, "progress/images_seen": images_seen,
                                "progress/step": step, "progress/train_seconds": train_seconds}
        line.update({f"loss/{name}": float(total) / self.counts[name] for name, total in sorted(self.sums.items())})
        line.update(gradient_norms(method))
        line.update({f"lr/{name}": float(opt.param_groups[0]["lr"]) for name, opt in method.optimizers().items()})
        line["perf/images_per_second"] = (images_seen - images0) / seconds if seconds > 0 else None
        if self.device.type == "cuda":
            line["perf/gpu_memory_peak_mib"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        line["timestamp"] = time.time()
        self.sums, self.counts = {}, {}
        return line

    def write(self, line: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")
        if self.writer is not None:
            step = line["progress/images_seen"]
            for key, value in line.items():
                if not key.startswith(("progress/images_seen", "progress/step")) and key != "timestamp" \
                        and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, step)

    def point(self, point: dict, samples: torch.Tensor | None, grid: int = 8) -> None:
        """A curve point's metrics (and its sample grid) to TensorBoard, at its images seen."""
        if self.writer is None:
            return
        step = point["images_seen"]
        tag = "final" if point["final"] else "curve"
        for metric in point["metrics"]:
            if isinstance(metric.get("value"), (int, float)):
                self.writer.add_scalar(f"{tag}/{metric['name']}", metric["value"], step)
        if samples is not None and len(samples):
            self.writer.add_images(f"samples/{tag}", samples[: grid * grid].add(1).div(2).clamp(0, 1), step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
