"""torch-fidelity's FD agrees with ours in the same feature space, and stays offline and in a temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.data import ImageDataset, make_dataset, to_float, to_uint8
from harness.metrics import FeatureExtractor, evaluate
from harness.metrics.frechet import frechet_distance


def test_torch_fidelity_fd_matches_own_fd(
    digits: ImageDataset, digits_extractor: FeatureExtractor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    # torch-fidelity sees uint8 images, so give both paths the same uint8-rounded images.
    real = make_dataset("digits-uint8", to_uint8(digits.all_images()), digits.labels, 10, "digits rounded to uint8")
    g = torch.Generator().manual_seed(0)
    fake = to_float(to_uint8(digits.all_images()[torch.randperm(len(digits), generator=g)[:600]] * 0.9))

    own = evaluate(fake, real, ["fd"], digits_extractor, implementation="own")[0]
    theirs = evaluate(fake, real, ["fd"], digits_extractor, implementation="torch-fidelity")[0]
    assert theirs.implementation == "torch-fidelity" and "uint8" in theirs.details["input"]
    assert own.value > 1.0  # a real difference, so the relative tolerance means something
    assert theirs.value == pytest.approx(own.value, rel=1e-4)
    assert own.value == pytest.approx(frechet_distance(digits_extractor(fake), digits_extractor(real.all_images())), rel=1e-12)
    assert not any((tmp_path / "torch_home").rglob("*")) and not (tmp_path / "hf_home").exists()
