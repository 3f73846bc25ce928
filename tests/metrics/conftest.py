"""Fixtures for the metric tests: the digits data and the shipped classifier, loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

from harness.data import ImageDataset, load_dataset
from harness.metrics import FeatureExtractor, load_extractor


from helpers import TINY_SONGUNET, write_tiny_backbone  # noqa: E402,F401  (re-exported for older imports)


@pytest.fixture(autouse=True)
def offline_single_thread(monkeypatch: pytest.MonkeyPatch):
    # Offline hubs; one torch and one BLAS thread, because on 2 shared CPU cores their pools spin.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits() -> ImageDataset:
    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_extractor() -> FeatureExtractor:
    return load_extractor("digits-classifier")


@pytest.fixture(scope="session")
def digits_features(digits: ImageDataset, digits_extractor: FeatureExtractor) -> torch.Tensor:
    return digits_extractor(digits.all_images())


# --- Inception with random weights, in torch-fidelity's file format ------------------------------------

@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torch-fidelity's Inception-v3 class, randomly initialised, saved as its weights file would be.

    Its constructor loads a state dict from the path it is given (or downloads one); a subclass whose
    ``load_state_dict`` keeps the random initialisation builds the network from a placeholder file
    without any download. Convolutions get He initialisation so features stay O(1) through the
    network. Random pool3 features share a large common component, which would make every image
    the same class; the classifier rows are made orthogonal to it (and large), so Inception Score
    is far from its trivial value 1.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class KeepRandomInit(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # noqa: ARG002
            return None

    folder = tmp_path_factory.mktemp("inception")
    placeholder = folder / "placeholder.pth"
    torch.save({}, placeholder)
    with torch.random.fork_rng():
        torch.manual_seed(20151205)
        net = KeepRandomInit("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(placeholder))
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            net.INPUT_IMAGE_SIZE = 75  # a small probe, on this instance only
            probe = net((torch.rand(16, 3, 8, 8) * 255).to(torch.uint8))[0]
            del net.INPUT_IMAGE_SIZE
            common = probe.mean(0) / probe.mean(0).norm()
            weight = torch.randn(1008, 2048) * 20.0
            net.fc.weight.copy_(weight - (weight @ common)[:, None] * common[None, :])
    path = folder / "random-inception-2015-12-05.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def inception_input_size(monkeypatch: pytest.MonkeyPatch):
    """Shrink the size torch-fidelity's Inception resizes every image to (299), for CPU-speed tests.

    Every layer still runs, on fewer pixels: 75 is the smallest size the whole network takes, 32 is
    enough for the first pooled layer ('64'). Returns a function that sets it.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    def set_size(size: int) -> None:
        monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", size)

    return set_size


@pytest.fixture(scope="session")
def inception_pool64(inception_weights: Path):
    """The random Inception as a harness extractor of its first pooled layer (64-d), loaded once."""
    from harness.metrics.inception import load_inception

    return load_inception(inception_weights, "cpu", feature_layer="64")


@pytest.fixture(scope="session")
def inception_pool3(inception_weights: Path):
    """The random Inception as a harness extractor of its 2048-d pool3 layer (and logits), loaded once."""
    from harness.metrics.inception import load_inception

    return load_inception(inception_weights, "cpu")
