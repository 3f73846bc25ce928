"""Kept snapshots: the EMA generator behind curve points, so a record's best snapshot can be
exported (`bench sample --snapshot best`) and measured again.

The authors report the snapshot with the lowest FID among those saved every 250 kimg (Zheng & Yang,
arXiv 2506.09376, Sec. 4; EDM and StyleGAN keep ``network-snapshot-*.pkl`` files the same way).
``keep`` (``bench run --keep``, ``train.keep_snapshots``) bounds what stays on disk:

- ``final``: only ``generator.safetensors`` (the end of the run);
- ``best`` (default): the final generator and the best curve point's (lowest FD/FID, ``curves.best_point``);
- ``all``: every curve point's;
- ``N``: the best and the N most recent points'.

A snapshot is written when its point is measured and deleted as soon as the policy no longer keeps
it, so the folder never holds more than the policy allows plus the one being written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from harness.errors import BenchError, UsageError

FOLDER = "snapshots"
FINAL_FILE = "generator.safetensors"
POLICIES = ("final", "best", "all")


def parse_keep(text: Any) -> str | int:
    """``final``, ``best``, ``all`` or a whole number N >= 0 (the best plus the N most recent points)."""
    value = str(text).strip()
    if value in POLICIES:
        return value
    if value.isdigit():
        return int(value)
    raise UsageError(f"--keep {text}: expected final, best, all or a number N (the best and the N most recent "
                     f"curve points)")


def most_kept(keep: str | int, num_points: int) -> int:
    """How many intermediate snapshots the policy can hold at once (the disk bound)."""
    if keep == "final":
        return 0
    if keep == "best":
        return min(1, num_points)
    if keep == "all":
        return num_points
    return min(int(keep) + 1, num_points)


def snapshot_file(run_dir: Path, kimg: float) -> Path:
    return Path(run_dir) / FOLDER / f"generator-{kimg:011.3f}kimg.safetensors"


def kept_indices(points: list[dict], keep: str | int) -> set[int]:
    """Indices of the intermediate points (not ``final``) whose snapshots the policy keeps."""
    from harness.curves import best_point

    inner = [i for i, p in enumerate(points) if not p.get("final")]
    chosen: set[int] = set()
    if keep == "all":
        return set(inner)
    best = best_point(points)
    if keep != "final" and best is not None and not best["final"]:
        chosen.add(best["index"])
    if isinstance(keep, int) and keep > 0:
        chosen.update(inner[-keep:])
    return chosen


class SnapshotKeeper:
    """Writes the EMA generator at each curve point and prunes to the policy (RunMonitor calls it)."""

    def __init__(self, run_dir: Path, keep: str | int, generator_bytes: int):
        self.run_dir, self.keep, self.generator_bytes = Path(run_dir), keep, generator_bytes
        self.card: dict[str, Any] = {}  # what every snapshot's card also says (the runner's settings hash)

    @classmethod
    def for_run(cls, run_dir: Path, keep: Any, generator: torch.nn.Module, num_points: int) -> "SnapshotKeeper":
        """Checks the disk bound before training: the policy's most snapshots must fit in free space."""
        from harness.storage import free_bytes, megabytes

        policy = parse_keep(keep)
        size = sum(t.numel() * t.element_size() for t in generator.state_dict().values())
        needed = most_kept(policy, num_points) * size
        free = free_bytes(Path(run_dir))
        if needed and free is not None and needed + size > free:
            raise BenchError(f"--keep {policy}: up to {most_kept(policy, num_points)} snapshots of {megabytes(size)} "
                             f"({megabytes(needed)}) do not fit in the {megabytes(free)} free under {run_dir}; keep fewer")
        return cls(run_dir, policy, size)

    def after_point(self, points: list[dict], ema: torch.nn.Module) -> None:
        """Save the newest point's generator if the policy may keep it, then prune the others."""
        from harness.backbones.files import save_weights

        index = len(points) - 1
        if index >= 0 and not points[index].get("final") and index in kept_indices(points, self.keep):
            save_weights(ema.state_dict(), snapshot_file(self.run_dir, points[index]["kimg"]),
                         {"kind": "generator-ema-snapshot", "kimg": points[index]["kimg"],
                          "images_seen": points[index]["images_seen"], "run_id": self.run_dir.name, **self.card})
        self.prune(points)

    def prune(self, points: list[dict]) -> None:
        keep = {snapshot_file(self.run_dir, points[i]["kimg"]).name for i in kept_indices(points, self.keep)}
        folder = self.run_dir / FOLDER
        for path in sorted(folder.glob("generator-*kimg.safetensors")) if folder.is_dir() else []:
            if path.name not in keep:
                path.unlink()
                path.with_suffix(".json").unlink(missing_ok=True)

    def finish(self, points: list[dict]) -> dict[str, Any]:
        """The record's ``snapshots``: policy, the kept files with their points, and the bytes they use."""
        from harness.files import sha256_file

        self.prune(points)
        kept = []
        for i in sorted(kept_indices(points, self.keep)):
            path = snapshot_file(self.run_dir, points[i]["kimg"])
            if path.is_file():
                kept.append({"kimg": points[i]["kimg"], "images_seen": points[i]["images_seen"],
                             "file": f"{FOLDER}/{path.name}", "bytes": path.stat().st_size, "sha256": sha256_file(path)})
        folder = self.run_dir / FOLDER
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        return {"keep": self.keep, "kept": kept, "bytes": sum(k["bytes"] for k in kept),
                "final": FINAL_FILE}


def resolve(run_dir: Path, record: dict, which: str) -> tuple[Path, dict[str, Any]]:
    """The weights file of ``final``, ``best`` or a curve point given by its kimg; a snapshot that was
    not kept is a UsageError naming those that were, a kept one is checked against its recorded sha256."""
    run_dir = Path(run_dir)
    final = {"snapshot": "final", "kimg": record.get("budget_kimg")}
    kept = (record.get("snapshots") or {}).get("kept", [])
    names = ", ".join(["final", *(f"{k['kimg']:g}" for k in kept)]) + (", best" if record.get("best_snapshot") else "")
    if which == "final":
        return run_dir / FINAL_FILE, final
    if which == "best":
        best = record.get("best_snapshot")
        if not best:
            raise UsageError(f"--snapshot best: run {record.get('run_id')} has no curve, so no best snapshot; kept: {names}")
        if best.get("final"):
            return run_dir / FINAL_FILE, {**final, "snapshot": "best (the final point)", "value": best["value"]}
        which_kimg = float(best["kimg"])
    else:
        try:
            which_kimg = float(which)
        except ValueError:
            raise UsageError(f"--snapshot {which}: expected final, best or a curve point's kimg") from None
        if record.get("budget_kimg") is not None and which_kimg == float(record["budget_kimg"]):
            return run_dir / FINAL_FILE, final
    for entry in kept:
        if float(entry["kimg"]) == which_kimg:
            path = run_dir / entry["file"]
            if not path.is_file():
                raise BenchError(f"{path}: the record lists this snapshot but the file is gone")
            from harness.files import sha256_file

            if sha256_file(path) != entry["sha256"]:
                raise BenchError(f"{path}: its sha256 is not the one run {record.get('run_id')} recorded for it")
            return path, {"snapshot": which, "kimg": entry["kimg"], "sha256": entry["sha256"]}
    raise UsageError(f"--snapshot {which}: the snapshot at {which_kimg:g} kimg was not kept (bench run --keep); "
                     f"kept: {names}")


def disk_line(record_path: Path) -> str | None:
    """One line on what the run's kept snapshots use on disk, for the CLI to print."""
    import json

    from harness.storage import megabytes

    snaps = json.loads(Path(record_path).read_text()).get("snapshots")
    if not snaps:
        return None
    return (f"snapshots: keep {snaps['keep']}: {len(snaps['kept'])} kept beside the final generator, "
            f"{megabytes(snaps['bytes'])}")

