"""FID the way the papers compute it: own, torch-fidelity and clean-fid agree on one Inception network.

The network is torch-fidelity's Inception-v3 with random weights saved by the test in its file
format. For CPU speed the FID checks use the first pooled layer (64-d, so 80 images give full-rank
covariances) and a 32x32 network input instead of 299x299; every code path is the production one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data import ImageDataset, make_dataset, to_float, to_uint8
from harness.errors import BenchError, UsageError
from harness.metrics import evaluate
from harness.metrics.fid import FID_IMPLEMENTATIONS
from harness.metrics.frechet import frechet_distance_from_statistics
from harness.metrics.inception import INCEPTION_WEIGHTS, InceptionExtractor
from harness.metrics.reference import CLEAN, LEGACY_TENSORFLOW, load_npz, save_npz

N = 80  # > 64 features, so both covariances have full rank


@pytest.fixture
def sets() -> tuple[ImageDataset, torch.Tensor]:
    """'Real' noise images and 'generated' smooth images, 16x16 RGB, already on the uint8 grid."""
    g = torch.Generator().manual_seed(0)
    real = (torch.rand(N, 3, 16, 16, generator=g) * 255).round().to(torch.uint8)
    smooth = torch.nn.functional.interpolate(torch.rand(N, 3, 4, 4, generator=g), size=16, mode="bilinear")
    fake = to_float(to_uint8(smooth * 2 - 1))
    return make_dataset("noise16", real, torch.zeros(N, dtype=torch.int64), 1, "test noise"), fake


@pytest.fixture
def pool64(inception_pool64: InceptionExtractor, inception_input_size) -> InceptionExtractor:
    inception_input_size(32)
    return inception_pool64


def test_weights_file_is_torch_fidelitys() -> None:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    assert INCEPTION_WEIGHTS.url == URL_INCEPTION_V3
    assert INCEPTION_WEIGHTS.url.endswith("/" + INCEPTION_WEIGHTS.file_name)
    assert INCEPTION_WEIGHTS.sha256_prefix in INCEPTION_WEIGHTS.file_name


def test_own_torch_fidelity_and_clean_fid_agree(sets, pool64: InceptionExtractor) -> None:
    dataset, fake = sets
    values = {impl: evaluate(fake, dataset, ["fid"], pool64, implementation=impl)[0] for impl in FID_IMPLEMENTATIONS}
    own = values["own"].value
    assert own > 1.0  # a real difference, so the relative tolerance means something
    assert values["torch-fidelity"].value == pytest.approx(own, rel=1e-4)
    assert values["clean-fid-legacy_tensorflow"].value == pytest.approx(own, rel=1e-4)
    # clean mode resizes with PIL bicubic in float before the network: another pipeline, another number.
    clean = values["clean-fid-clean"]
    assert np.isfinite(clean.value) and abs(clean.value - own) > 1e-3 * own
    for impl, value in values.items():
        assert value.implementation == impl and value.name == "fid"
        assert value.details["mode"] == (CLEAN if impl == "clean-fid-clean" else LEGACY_TENSORFLOW)
        assert value.extractor_weights_sha256 == pool64.weights_sha256 and len(value.extractor_weights_sha256) == 64
        assert value.num_samples == N and value.reference["id"] == "noise16"
        assert value.reference["sha256"] == dataset.sha256


def test_fid_of_a_set_with_itself_is_zero(sets, pool64: InceptionExtractor) -> None:
    dataset, _ = sets
    value = evaluate(dataset.all_images(), dataset, ["fid"], pool64)[0]
    assert value.value == pytest.approx(0.0, abs=1e-6)


def test_fid_rejects_other_networks(digits, digits_extractor) -> None:
    with pytest.raises(UsageError, match="Inception-v3 features"):
        evaluate(digits.all_images()[:20], digits, ["fid"], digits_extractor)


def test_reference_statistics_npz(sets, pool64: InceptionExtractor, tmp_path: Path, monkeypatch) -> None:
    from harness.metrics.dataset_statistics import dataset_statistics

    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    dataset, fake = sets
    stats = dataset_statistics(dataset, pool64, "own")
    assert stats.record["cached"] is False and dataset_statistics(dataset, pool64, "own").record["cached"] is True
    path = save_npz(stats, tmp_path / "noise16.npz", {"dataset": dataset.name})
    with np.load(path) as data:  # exactly EDM's two float64 arrays
        assert sorted(data.files) == ["mu", "sigma"]
        assert data["mu"].dtype == np.float64 and data["sigma"].shape == (64, 64)
    reference = load_npz(path)
    assert reference.mode == LEGACY_TENSORFLOW and reference.record["id"] == "noise16.npz"
    assert len(reference.record["sha256"]) == 64

    by_images = evaluate(fake, dataset, ["fid"], pool64)[0].value
    for impl in ("own", "torch-fidelity", "clean-fid-legacy_tensorflow"):
        value = evaluate(fake, None, ["fid"], pool64, implementation=impl, reference=reference)[0]
        assert value.value == pytest.approx(by_images, rel=1e-4 if impl != "own" else 1e-9)
        assert value.reference["id"] == "noise16.npz" and value.reference["sha256"] == reference.record["sha256"]
    with pytest.raises(UsageError, match="legacy_tensorflow mode"):
        evaluate(fake, None, ["fid"], pool64, implementation="clean-fid-clean", reference=reference)
    with pytest.raises(UsageError, match="need the real images"):
        evaluate(fake, None, ["fid", "precision"], pool64, reference=reference)


def test_npz_problems_are_clear_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", mean=np.zeros(3))
    with pytest.raises(BenchError, match="need arrays 'mu' and 'sigma'"):
        load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "shape.npz", mu=np.zeros(3), sigma=np.zeros((2, 2)))
    with pytest.raises(BenchError, match="not \\[D\\] and \\[D, D\\]"):
        load_npz(tmp_path / "shape.npz")
    with pytest.raises(BenchError, match="do not exist"):
        load_npz(tmp_path / "absent.npz")
    good = (tmp_path / "shape.npz").read_bytes()
    for name, content, why in (("cut.npz", good[: len(good) // 2], "BadZipFile: File is not a zip file"),
                               ("text.npz", b"garbage\n", "not a zip archive, as every .npz is")):
        (tmp_path / name).write_bytes(content)  # numpy took the text for a pickle and suggested loading it unsafely
        with pytest.raises(BenchError) as caught:
            load_npz(tmp_path / name)
        assert str(caught.value) == f"{tmp_path / name}: not a readable .npz ({why})"


@pytest.mark.parametrize("sigma, why", [
    (-1e6 * np.eye(4), "negative variance"),  # gave FID 0.0
    (np.triu(np.ones((4, 4))), "not symmetric"),  # gave an arbitrary number
    (np.eye(4) * (1 + 1j), "real numbers"),  # its imaginary part was dropped with a ComplexWarning
    (np.eye(4).astype(bool), "real numbers"),
])
def test_reference_statistics_that_are_no_covariance_are_refused(sigma, why, tmp_path: Path) -> None:
    np.savez(tmp_path / "ref.npz", mu=np.zeros(4), sigma=sigma)
    with pytest.raises(BenchError, match=why):
        load_npz(tmp_path / "ref.npz")


def test_a_npy_file_as_reference_statistics_is_one_line(tmp_path: Path) -> None:
    np.save(tmp_path / "mu.npy", np.zeros(4))  # np.load gives a bare array: was a TypeError traceback
    with pytest.raises(BenchError, match=r"a single array \(\.npy\), not an \.npz"):
        load_npz(tmp_path / "mu.npy")


def test_every_implementation_matches_the_closed_form_for_gaussians() -> None:
    """For commuting (here: diagonal) covariances FD = |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2;
    ours and the two libraries' Fréchet functions all give it."""
    from cleanfid.fid import frechet_distance as clean_fid_fd
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(16), rng.standard_normal(16)
    s1, s2 = rng.uniform(0.1, 4.0, 16), rng.uniform(0.1, 4.0, 16)
    expected = float(((mu1 - mu2) ** 2).sum() + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum())
    ours = frechet_distance_from_statistics(mu1, np.diag(s1), mu2, np.diag(s2))
    theirs = fid_statistics_to_metric({"mu": mu1, "sigma": np.diag(s1)}, {"mu": mu2, "sigma": np.diag(s2)}, False)
    assert ours == pytest.approx(expected, rel=1e-12)
    assert theirs[KEY_METRIC_FID] == pytest.approx(expected, rel=1e-9)
    assert clean_fid_fd(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-9)


def test_float_input_path_equals_torch_fidelitys_uint8_forward(inception_pool64: InceptionExtractor,
                                                               inception_input_size) -> None:
    """clean mode feeds the network floats, which torch-fidelity's forward refuses; our child-by-child
    run of the same layers gives its numbers bit for bit on whole-number input, resized or not."""
    g = torch.Generator().manual_seed(3)
    small = (torch.rand(2, 3, 16, 16, generator=g) * 255).round().to(torch.uint8)
    full = torch.nn.functional.interpolate(small.float(), size=299, mode="nearest").to(torch.uint8)
    extractor = inception_pool64
    assert torch.equal(extractor.forward_float255(full.float()), extractor(full))  # 299: no resize
    inception_input_size(32)
    assert torch.equal(extractor.forward_float255(small.float()), extractor(small))  # resized inside


def test_features_and_logits_come_from_one_pass(inception_pool3: InceptionExtractor, inception_input_size) -> None:
    inception_input_size(75)
    extractor = inception_pool3
    images = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(4)) * 2 - 1  # grey: repeated to RGB
    both = extractor.extract(images, ("features", "logits"))
    assert both["features"].shape == (3, 2048) and both["logits"].shape == (3, 1008)
    assert torch.equal(both["features"], extractor(images))
    assert torch.equal(both["logits"], extractor.extract(images, ("logits",))["logits"])
    assert torch.equal(both["features"], extractor(images.expand(-1, 3, -1, -1)))
    assert extractor.name == "inception-v3-compat" and extractor.dim == 2048


def test_report_puts_implementations_and_sample_counts_in_different_columns(sets, pool64) -> None:
    from harness.report.inputs import measurement_of

    dataset, fake = sets
    own, theirs = (evaluate(fake, dataset, ["fid"], pool64, implementation=impl)[0]
                   for impl in ("own", "clean-fid-legacy_tensorflow"))
    fewer = evaluate(fake[:70], dataset, ["fid"], pool64)[0]
    again = evaluate(fake, dataset, ["fid"], pool64)[0]
    columns = {measurement_of(v.to_dict()) for v in (own, theirs, fewer)}
    assert len(columns) == 3
    assert measurement_of(again.to_dict()) == measurement_of(own.to_dict())
