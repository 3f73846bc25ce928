"""FD-DINOv2 (Stein et al. 2023, "Exposing flaws of generative model evaluation metrics"): the
Fréchet distance in the 1024-d CLS features of DINOv2 ViT-L/14, used only when its files are on disk.

DINOv2 is not a torch-fidelity built-in that loads from a file (its extractor only downloads through
torch hub), so the network comes from a local copy of the ``facebookresearch/dinov2`` torch-hub
repository and the published checkpoint; both are looked for in the weights directory
(``$BENCH_WEIGHTS_DIR``: ``dinov2/`` holding the repository, and the ``.pth``) and in torch's hub
cache (``facebookresearch_dinov2_main/`` and ``checkpoints/``). Nothing is downloaded.

Preprocessing follows torch-fidelity's DINOv2 extractor: uint8 images, TF-1-compatible bilinear
resize to 224x224, ImageNet mean/std normalisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.metrics.features import uint8_rgb
from harness.errors import BenchError, MissingArtefactError, in_brief
from harness.metrics.artefacts import WEIGHTS_DIR_ENV, torch_hub_checkpoints, weights_dir
from harness.metrics.base import METRICS, Metric, MetricInputs
from harness.metrics.features import FEATURE_EXTRACTORS, FeatureExtractor, file_sha256

NAME = "dinov2-vit-l-14"
HUB_ENTRY = "dinov2_vitl14"
WEIGHTS_FILE = "dinov2_vitl14_pretrain.pth"
WEIGHTS_URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"
REPO_URL = "https://github.com/facebookresearch/dinov2"
REPO_DIRS = ("dinov2", "facebookresearch_dinov2_main")
INPUT_SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
DIM = 1024


def find_files(weights_path: Path | None = None) -> tuple[Path, Path]:
    """(repository directory, checkpoint file) on the local disk, or MissingArtefactError saying where to put them."""
    import torch.hub

    folders = [weights_dir(), Path(torch.hub.get_dir())]
    repo = next((f / d for f in folders for d in REPO_DIRS if (f / d / "hubconf.py").is_file()), None)
    if weights_path is not None:
        checkpoint = Path(weights_path).expanduser() if Path(weights_path).expanduser().is_file() else None
    else:
        checkpoint = next((p for p in (weights_dir() / WEIGHTS_FILE, torch_hub_checkpoints() / WEIGHTS_FILE) if p.is_file()), None)
    if repo is None or checkpoint is None:
        missing = []
        if repo is None:
            missing.append(f"the torch-hub repository {REPO_URL} (clone it to {weights_dir() / 'dinov2'})")
        if checkpoint is None:
            missing.append(f"weights file {WEIGHTS_FILE} (download {WEIGHTS_URL} and put it at {weights_dir() / WEIGHTS_FILE})")
        raise MissingArtefactError(f"FD-DINOv2 is measured only with its files on disk; missing {' and '.join(missing)}. "
                                   f"Set ${WEIGHTS_DIR_ENV} to the folder holding them")
    return repo, checkpoint


class DinoV2Net(nn.Module):
    """uint8 RGB images of any size -> DINOv2 CLS features."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

        x = images.to(self.mean.device, torch.float32)
        x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(INPUT_SIZE, INPUT_SIZE), align_corners=False)
        return self.model((x - self.mean) / self.std).float()


class DinoV2Extractor(FeatureExtractor):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise BenchError(f"DINOv2 takes [N, 1 or 3, H, W] images, got {tuple(images.shape)}")
        out = None
        with torch.no_grad():
            for start in range(0, images.shape[0], self.batch_size):
                batch = images[start:start + self.batch_size]
                batch = uint8_rgb(batch)
                feats = self.net(batch.to(self.device)).cpu()
                if out is None:
                    out = torch.empty((images.shape[0], feats.shape[1]))
                out[start:start + feats.shape[0]] = feats
        return out


def load_dinov2(weights_path: Path | None = None, device: str | torch.device = "cpu", batch_size: int = 64) -> DinoV2Extractor:
    repo, checkpoint = find_files(weights_path)
    try:
        model = torch.hub.load(str(repo), HUB_ENTRY, source="local", pretrained=False, trust_repo=True)
    except TypeError:  # hub entry points without a `pretrained` switch
        model = torch.hub.load(str(repo), HUB_ENTRY, source="local", trust_repo=True)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # a file that is not this network's weights: one line, no traceback
        raise BenchError(f"{checkpoint}: not {HUB_ENTRY} weights ({exc.__class__.__name__}: {in_brief(exc)})") from None
    dim = int(getattr(model, "embed_dim", 0) or DIM)
    return DinoV2Extractor(NAME, DinoV2Net(model), dim, file_sha256(checkpoint), resolution=0, channels=3,
                           device=device, batch_size=batch_size, weights_path=checkpoint)


def available() -> bool:
    try:
        find_files()
    except MissingArtefactError:
        return False
    return True


def _fd_dinov2(inputs: MetricInputs) -> tuple[float, dict[str, Any]]:
    from harness.metrics.frechet import feature_statistics, frechet_distance_from_statistics

    value = frechet_distance_from_statistics(*feature_statistics(inputs.fake_features()),
                                             *feature_statistics(inputs.real_features()))
    return value, {"input": "uint8 images, TF-bilinear resize to 224", "dtype": "float64", "features": "CLS token"}


FEATURE_EXTRACTORS.add(NAME, lambda weights_path, device="cpu": load_dinov2(weights_path, device))
METRICS.add("fd-dinov2", Metric(
    name="fd-dinov2",
    description="Fréchet distance in DINOv2 ViT-L/14 features (Stein et al. 2023); needs its files on disk",
    implementations=("own",), compute=_fd_dinov2, extractor=NAME))
