"""Kept snapshots (harness/snapshots.py): what each --keep policy keeps, pruning on disk, and how
`--snapshot` names them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.errors import UsageError
from harness.snapshots import SnapshotKeeper, kept_indices, parse_keep, resolve, snapshot_file


def point(kimg: float, fd: float, final: bool = False) -> dict:
    metric = {"name": "fd", "value": fd, "extractor": "x", "implementation": "own", "num_samples": 10,
              "reference": {"id": "d"}}
    return {"kimg": kimg, "images_seen": int(kimg * 1000), "final": final, "metrics": [metric]}


POINTS = [point(1, 50.0), point(2, 20.0), point(3, 30.0), point(4, 40.0), point(5, 35.0, final=True)]


@pytest.mark.parametrize("keep, expected", [("final", set()), ("best", {1}), ("all", {0, 1, 2, 3}), (1, {1, 3}),
                                            (2, {1, 2, 3}), (0, {1})])
def test_policies(keep, expected) -> None:
    assert kept_indices(POINTS, keep) == expected


def test_best_at_the_end_needs_no_extra_file() -> None:
    assert kept_indices([point(1, 50.0), point(2, 10.0, final=True)], "best") == set()


def test_parse_keep() -> None:
    assert [parse_keep(v) for v in ("final", "best", "all", "3")] == ["final", "best", "all", 3]
    with pytest.raises(UsageError, match="expected final, best, all or a number"):
        parse_keep("some")


def test_keeper_writes_then_prunes_to_the_policy(tmp_path: Path) -> None:
    net = torch.nn.Linear(2, 2)
    keeper = SnapshotKeeper(tmp_path, 1, 24)
    for n in range(1, 5):
        keeper.after_point(POINTS[:n], net)
    on_disk = sorted(p.name for p in (tmp_path / "snapshots").glob("*.safetensors"))
    assert on_disk == [snapshot_file(tmp_path, 2).name, snapshot_file(tmp_path, 4).name]  # the best and the newest
    summary = keeper.finish(POINTS)
    assert [k["kimg"] for k in summary["kept"]] == [2, 4] and summary["bytes"] == sum(k["bytes"] for k in summary["kept"])

    record = {"run_id": "r", "budget_kimg": 5, "snapshots": summary, "best_snapshot": {"kimg": 2, "final": False, "value": 20.0}}
    assert resolve(tmp_path, record, "best")[0] == snapshot_file(tmp_path, 2)
    assert resolve(tmp_path, record, "4")[0] == snapshot_file(tmp_path, 4)
    assert resolve(tmp_path, record, "5")[0].name == resolve(tmp_path, record, "final")[0].name == "generator.safetensors"
    with pytest.raises(UsageError, match="the snapshot at 3 kimg was not kept"):
        resolve(tmp_path, record, "3")


def test_a_policy_whose_snapshots_cannot_fit_is_refused_before_training(tmp_path: Path, monkeypatch) -> None:
    import harness.storage
    from harness.errors import BenchError

    net = torch.nn.Linear(100, 100)  # 40,400 bytes of float32 weights
    monkeypatch.setattr(harness.storage, "free_bytes", lambda path: 100_000)
    with pytest.raises(BenchError, match=r"--keep all: up to 5 snapshots .* do not fit .* keep fewer"):
        SnapshotKeeper.for_run(tmp_path, "all", net, 5)
    assert SnapshotKeeper.for_run(tmp_path, "best", net, 5).keep == "best"  # one snapshot and the final fit
    assert SnapshotKeeper.for_run(tmp_path, "final", net, 5).keep == "final"
    assert not (tmp_path / "snapshots").exists()
