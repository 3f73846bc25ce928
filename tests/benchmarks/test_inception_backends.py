"""Inception-v3 features per second, side by side: bench's own path, torch-fidelity's and clean-fid's
(``legacy_tensorflow``), on the same 32x32 greyscale uint8 images (Fashion-MNIST's format), the same
network and the same threads (issue #24). Speed does not depend on the weights, so the network has
random weights saved in torch-fidelity's format; the numbers are in ``extra_info.images_per_second``.

Run: ``python -m pytest -n 0 tests/benchmarks/test_inception_backends.py --benchmark-only``.
"""

from __future__ import annotations


import pytest
import torch

N = 32  # images per round: two of the own path's batches would be 256; this is what 2 CPU cores allow
BACKENDS = ("own", "torch-fidelity", "clean-fid-legacy_tensorflow")


@pytest.fixture(scope="module")
def extractor(tmp_path_factory):
    """The harness's Inception extractor, loaded from a random-weight file in torch-fidelity's format."""
    from torch_fidelity import feature_extractor_inceptionv3 as tfi

    from harness.metrics.inception import TORCH_FIDELITY_NAME, load_inception

    class RandomInceptionV3(tfi.FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            return None

    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save({}, path)
    torch.manual_seed(0)
    torch.save(RandomInceptionV3(TORCH_FIDELITY_NAME, ["2048"], feature_extractor_weights_path=str(path)).state_dict(), path)
    return load_inception(path, "cpu", batch_size=N)


def features(backend: str, images: torch.Tensor, extractor) -> object:
    if backend == "own":
        return extractor(images)
    if backend == "torch-fidelity":
        from harness.metrics import torch_fidelity_inception

        return torch_fidelity_inception.features(images, extractor)
    from harness.metrics import clean_fid_backend

    return clean_fid_backend.features(images, extractor, "legacy_tensorflow")


@pytest.mark.parametrize("backend", BACKENDS)
def test_inception_features_per_second(benchmark, backend: str, extractor) -> None:
    images = torch.randint(0, 256, (N, 1, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    features(backend, images[:2], extractor)  # warm-up: imports, oneDNN kernels
    out = benchmark.pedantic(features, args=(backend, images, extractor), rounds=1, iterations=1)
    assert tuple(out.shape) == (N, 2048)
    benchmark.extra_info.update(images_per_second=round(N / benchmark.stats.stats.min, 2), images=N,
                                threads=torch.get_num_threads(), input="32x32 greyscale uint8, resized to 299 inside")
