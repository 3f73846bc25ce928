"""FD-DINOv2 is measured only with its repository and weights on disk; otherwise a clear error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from harness.data import ImageDataset, make_dataset
from harness.errors import MissingArtefactError
from harness.metrics import FeatureExtractor, dinov2, evaluate
from harness.metrics.dinov2 import REPO_URL, WEIGHTS_FILE, WEIGHTS_URL, available
from harness.metrics.features import file_sha256

# A stand-in for the facebookresearch/dinov2 torch-hub repository: same entry point, tiny network.
HUBCONF = textwrap.dedent('''
    import torch

    class Tiny(torch.nn.Module):
        embed_dim = 16

        def __init__(self):
            super().__init__()
            self.pool = torch.nn.AdaptiveAvgPool2d(4)
            self.proj = torch.nn.Linear(48, 16)

        def forward(self, x):
            return self.proj(self.pool(x).flatten(1))

    def dinov2_vitl14(pretrained=True, **kwargs):
        assert not pretrained, "the harness loads the weights itself"
        return Tiny()
''')


@pytest.fixture
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "weights"
    (folder / "dinov2").mkdir(parents=True)
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return folder


def test_missing_files_name_what_to_put_where(weights_dir: Path, digits: ImageDataset,
                                              digits_extractor: FeatureExtractor) -> None:
    assert not available()
    with pytest.raises(MissingArtefactError) as raised:
        evaluate(digits.all_images()[:20], digits, ["fd-dinov2"], digits_extractor)
    message = str(raised.value)
    assert REPO_URL in message and WEIGHTS_URL in message and str(weights_dir / WEIGHTS_FILE) in message


def test_fd_dinov2_with_local_files(weights_dir: Path, digits: ImageDataset, digits_extractor: FeatureExtractor,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    (weights_dir / "dinov2" / "hubconf.py").write_text(HUBCONF)
    sys.path.insert(0, str(weights_dir / "dinov2"))
    try:
        import hubconf  # the stand-in, to save weights in its format

        torch.manual_seed(0)
        torch.save(hubconf.dinov2_vitl14(pretrained=False).state_dict(), weights_dir / WEIGHTS_FILE)
    finally:
        sys.path.remove(str(weights_dir / "dinov2"))
        sys.modules.pop("hubconf", None)
    assert available()
    # The TF-compatible resize to 224x224 is slow on a CPU: resize to 32x32 and use 60 images.
    monkeypatch.setattr(dinov2, "INPUT_SIZE", 32)
    subset = make_dataset("digits60", digits.images[:60], digits.labels[:60], 10, "first 60 digits")
    images = subset.all_images()
    same, other = (evaluate(x, subset, ["fd-dinov2"], digits_extractor)[0] for x in (images, images.flip(-1)))
    assert same.value == pytest.approx(0.0, abs=1e-6) and other.value > 1e-3
    assert other.extractor == "dinov2-vit-l-14" and other.extractor_weights_sha256 == file_sha256(weights_dir / WEIGHTS_FILE)
    assert other.implementation == "own" and other.reference["id"] == "digits60"
