"""Real features on disk: read back exactly, keyed by data, weights and device, and trusted only
when the file proves its content (provenance, checksum, a re-extracted subset)."""

from __future__ import annotations

import pytest
import torch

from harness import cache_switch
from harness.metrics import feature_cache
from harness.metrics.feature_cache import cache_path, real_features, rebuilt_note


class Extractor:
    """A deterministic toy feature network: the first five pixels, doubled."""

    name = "toy"
    device = torch.device("cpu")

    def __init__(self, weights_sha256: str = "ab" * 32):
        self.weights_sha256 = weights_sha256

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)[:, :5] * 2


class Dataset:
    name = "toy-data"

    def __init__(self, sha256: str = "cd" * 32, n: int = 7):
        self.sha256, self.n = sha256, n
        self.images = torch.randn(n, 1, 4, 4, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return self.n

    def batch(self, index):
        return self.images[index], None

    def all_images(self):
        return self.images


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(cache_switch.ENV, "on")
    monkeypatch.setattr(feature_cache, "REBUILT", {})
    return tmp_path


def counted(dataset, extractor, calls):
    def compute():
        calls.append(1)
        return extractor(dataset.all_images())

    return compute


def test_features_are_computed_once_then_read_back_bit_identical(cache, monkeypatch) -> None:
    data, net, calls = Dataset(), Extractor(), []
    first = real_features(data, net, counted(data, net, calls))
    second = real_features(data, net, counted(data, net, calls))
    assert len(calls) == 1 and torch.equal(first, second) and torch.equal(first, net(data.images))
    assert rebuilt_note(data, net) is None
    # Other weights, other data, or caching off: computed again.
    real_features(data, Extractor("ef" * 32), counted(data, net, calls))
    real_features(Dataset("01" * 32), net, counted(data, net, calls))
    monkeypatch.setenv(cache_switch.ENV, "off")
    real_features(data, net, counted(data, net, calls))
    assert len(calls) == 4


def test_key_names_the_cpu_thread_count_and_unhashed_inputs_are_not_cached(cache) -> None:
    assert f"-cpu{torch.get_num_threads()}t." in cache_path(Dataset(), Extractor()).name
    assert cache_path(Dataset(), Extractor("")) is None and cache_path(Dataset(""), Extractor()) is None


def plant(path, features, meta=None):
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"features": features}, str(path), metadata=meta)


@pytest.mark.parametrize("case", ["garbage", "wrong size", "no provenance", "planted with forged provenance",
                                  "tampered tensor", "other weights in provenance"])
def test_an_untrustworthy_file_is_rebuilt_said_once_and_noted(case, cache, capsys) -> None:
    data, net = Dataset(), Extractor()
    path = cache_path(data, net)
    true = net(data.images)
    wrong = true + 1.0  # well-formed, the right shape, different content (the planted file)
    if case == "garbage":
        path.parent.mkdir(parents=True)
        path.write_bytes(b"not a safetensors file")
    elif case == "wrong size":
        plant(path, torch.zeros(6, 5))
    elif case == "no provenance":
        plant(path, wrong)
    elif case == "planted with forged provenance":  # even a correct-looking checksum does not help
        plant(path, wrong, feature_cache.provenance(data, net, wrong))
    elif case == "tampered tensor":
        plant(path, wrong, feature_cache.provenance(data, net, true))
    else:
        plant(path, true, feature_cache.provenance(data, Extractor("ef" * 32), true))
    calls: list = []
    got = real_features(data, net, counted(data, net, calls))
    assert torch.equal(got, true) and calls == [1]
    err = capsys.readouterr().err
    assert err.count("feature cache") == 1 and "rebuilt" in err
    assert rebuilt_note(data, net)  # the metrics' details carry it
    again = real_features(data, net, counted(data, net, calls))
    assert torch.equal(again, true) and calls == [1], "the rebuilt file is trusted next time"
    assert "feature cache" not in capsys.readouterr().err


def test_a_full_disk_when_writing_the_cache_is_one_note_not_a_failure(cache, capsys, monkeypatch) -> None:
    """Mock of the write: safetensors' save raising the OS error ENOSPC, as it does on a full disk."""
    import errno

    import safetensors.torch

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    data, net = Dataset(), Extractor()
    got = real_features(data, net, lambda: net(data.images))
    assert torch.equal(got, net(data.images))
    err = capsys.readouterr().err
    assert "could not write the feature cache" in err and "no space left" in err and "needs" in err
    assert not list(cache_path(data, net).parent.glob("*.partial"))
