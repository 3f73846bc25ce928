"""The real set's k-NN radii on disk (harness/metrics/radii_cache.py): computed once, read back
bit-identical, keyed by the features' content, and trusted only when the file proves itself."""

from __future__ import annotations

import pytest
import torch

from harness import cache_switch
from harness.metrics import feature_cache, radii_cache
from harness.metrics.precision_recall import knn_radii, precision_recall
from harness.metrics.radii_cache import cached_radii, radii_path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(cache_switch.ENV, "on")
    monkeypatch.setattr(radii_cache, "REBUILT", {})
    return tmp_path


def features(seed: int = 0, n: int = 300) -> torch.Tensor:
    return torch.randn(n, 8, generator=torch.Generator().manual_seed(seed))


def radii_of(real: torch.Tensor, calls: list) -> torch.Tensor:
    def compute():
        calls.append(1)
        return knn_radii(real, 3, 64)

    return cached_radii(real, 3, compute, lambda rows: knn_radii(real, 3, 64, rows=rows))


def test_radii_are_computed_once_then_read_back_bit_identical(cache) -> None:
    real, calls = features(), []
    first = radii_of(real, calls)
    second = radii_of(real, calls)
    assert calls == [1] and torch.equal(first, second) and torch.equal(first, knn_radii(real, 3, 64))
    assert radii_path(real, 3).is_file() and radii_path(real, 3).parent == cache / "features"


def test_precision_recall_gives_the_same_numbers_with_and_without_the_cache(cache) -> None:
    real, fake = features(0), features(1, 120) * 1.3
    plain = precision_recall(real, fake, block=64)
    stored = precision_recall(real, fake, block=64, cache_real_radii=True)
    again = precision_recall(real, fake, block=64, cache_real_radii=True)
    assert plain == stored == again and radii_path(real.float(), 3).is_file()


def test_the_file_is_named_by_the_features_content_and_k(cache) -> None:
    real = features()
    assert radii_path(real, 3) != radii_path(features(1), 3) and radii_path(real, 3) != radii_path(real, 5)


@pytest.mark.parametrize("tamper, why", [
    ("values", "checksum does not match"),      # the tensor changed, its provenance did not
    ("planted", "computed again do not match"),  # a consistent file of wrong radii (provenance and checksum redone)
])
def test_a_tampered_file_is_rebuilt_with_a_note(cache, capsys, tamper, why) -> None:
    from safetensors import safe_open

    real, calls = features(), []
    good = radii_of(real, calls)
    path = radii_path(real, 3)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    wrong = good * 1.5
    if tamper == "planted":
        meta = radii_cache.provenance(real, 3, wrong)
    feature_cache.store(path, wrong, meta, key="radii")
    capsys.readouterr()
    again = radii_of(real, calls)
    assert calls == [1, 1] and torch.equal(again, good)
    assert why in capsys.readouterr().err and why in radii_cache.REBUILT[str(path)]


def test_cache_off_computes_every_time(cache, monkeypatch) -> None:
    monkeypatch.setenv(cache_switch.ENV, "off")
    real, calls = features(), []
    radii_of(real, calls)
    radii_of(real, calls)
    assert calls == [1, 1] and radii_path(real, 3) is None
