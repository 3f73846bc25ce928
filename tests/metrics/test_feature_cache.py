"""Real features on disk: read back exactly, keyed by data, weights and device, robust to bad files."""

from __future__ import annotations

import torch

from harness.metrics import feature_cache
from harness.metrics.feature_cache import cache_path, real_features


class Extractor:
    name = "toy"
    device = torch.device("cpu")

    def __init__(self, weights_sha256: str = "ab" * 32):
        self.weights_sha256 = weights_sha256


class Dataset:
    name = "toy-data"

    def __init__(self, sha256: str = "cd" * 32, n: int = 7):
        self.sha256, self.n = sha256, n

    def __len__(self) -> int:
        return self.n


def test_features_are_computed_once_then_read_back_bit_identical(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(feature_cache.ENV, "on")
    calls = []
    computed = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))

    def compute():
        calls.append(1)
        return computed.clone()

    first = real_features(Dataset(), Extractor(), compute)
    second = real_features(Dataset(), Extractor(), compute)
    assert len(calls) == 1 and torch.equal(first, computed) and torch.equal(second, computed)
    # Other weights, other data, or caching off: computed again.
    real_features(Dataset(), Extractor("ef" * 32), compute)
    real_features(Dataset("01" * 32), Extractor(), compute)
    monkeypatch.setenv(feature_cache.ENV, "off")
    real_features(Dataset(), Extractor(), compute)
    assert len(calls) == 4


def test_key_names_the_cpu_thread_count_and_unhashed_inputs_are_not_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(feature_cache.ENV, "on")
    assert f"-cpu{torch.get_num_threads()}t." in cache_path(Dataset(), Extractor()).name
    assert cache_path(Dataset(), Extractor("")) is None and cache_path(Dataset(""), Extractor()) is None


def test_corrupt_or_wrong_shape_file_is_recomputed_and_replaced(tmp_path, monkeypatch) -> None:
    from safetensors.torch import save_file

    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(feature_cache.ENV, "on")
    path = cache_path(Dataset(), Extractor())
    path.parent.mkdir(parents=True)
    good = torch.ones(7, 3)
    for bad in (b"not a safetensors file", None):
        if bad is None:
            save_file({"features": torch.zeros(6, 3)}, path)  # a different dataset size
        else:
            path.write_bytes(bad)
        assert torch.equal(real_features(Dataset(), Extractor(), lambda: good.clone()), good)
        assert torch.equal(real_features(Dataset(), Extractor(), lambda: torch.zeros(7, 3)), good)  # now cached
        path.unlink()
