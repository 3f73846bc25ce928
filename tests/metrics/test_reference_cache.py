"""Reference statistics: named subsets for `bench refstats --subset`, and the self-checking cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_bench

from harness.data import make_dataset
from harness.data.subsets import subset
from harness.errors import UsageError
from harness.metrics.reference import cached_statistics


def test_named_subsets_and_ranges() -> None:
    images = torch.arange(70_000, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(-1, 1, 1, 1)
    data = make_dataset("fashion-mnist", images, torch.zeros(70_000, dtype=torch.int64), 10, "test")
    test = subset(data, "test")
    assert test.name == "fashion-mnist:test" and len(test) == 10_000 and torch.equal(test.images, images[60_000:])
    assert len(subset(data, "train")) == 60_000 and torch.equal(subset(data, "train-10k").images, images[:10_000])
    assert torch.equal(subset(data, "5:9").images, images[5:9]) and test.sha256 != data.sha256
    with pytest.raises(UsageError, match="valid: train, test, train-10k, START:STOP"):
        subset(data, "validation")
    with pytest.raises(UsageError, match="outside fashion-mnist's 0:70000"):
        subset(data, "69000:71000")


def test_cached_statistics_check_themselves(tmp_path: Path) -> None:
    mu, sigma = np.arange(3.0), np.eye(3)
    probe_value = [np.ones((2, 3), np.float32)]
    calls = []

    def compute():
        calls.append(1)
        return mu, sigma

    def get(**kw):
        return cached_statistics({"what": "test"}, compute, {"id": "t"}, "legacy_tensorflow", directory=tmp_path,
                                 probe=lambda: probe_value[0], **kw)

    assert get().record["cached"] is False and get().record["cached"] is True and len(calls) == 1
    (entry,) = tmp_path.glob("*[0-9a-f].npz")
    np.savez(entry, mu=mu + 1, sigma=sigma)  # changed after it was made: the recorded hash no longer fits
    again = get()
    assert again.record["rebuilt"].startswith("its mu/sigma differ") and np.array_equal(again.mu, mu)
    probe_value[0] = probe_value[0] * 2  # the network now gives other features for the probe images
    assert "probe images" in get().record["rebuilt"] and len(calls) == 3
    assert get().record["cached"] is True
    assert json.loads(Path(str(entry) + ".json").read_text())["statistics_sha256"]
    for damage in (entry.read_bytes()[: entry.stat().st_size // 2], b"not an npz"):  # cut short (full disk), foreign
        entry.write_bytes(damage)
        assert get().record["rebuilt"] == "unreadable" and np.array_equal(get().mu, mu)
    assert len(calls) == 5


def test_refstats_rejects_an_unknown_subset_before_work(tmp_path: Path) -> None:
    result = run_bench("refstats", "--dataset", "fashion-mnist", "--subset", "validation", "--out", str(tmp_path / "r.npz"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "valid: train, test, train-10k" in result.stderr
    assert not (tmp_path / "r.npz").exists()
