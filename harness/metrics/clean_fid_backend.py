"""FID by clean-fid (Parmar et al. 2022, "On aliased resizing and surprising subtleties in GAN
evaluation"), in its ``legacy_tensorflow`` and ``clean`` modes, run on our Inception network through
its custom feature-extractor hook.

clean-fid reads image files, so the images are written as PNG (lossless: the uint8 values the
other implementations see) into a temporary folder and read back by clean-fid's own loader, which
does the mode's preprocessing:

* ``legacy_tensorflow``: no resizing outside the network; our network receives the native-size
  images (as floats holding whole numbers 0..255, turned back into uint8 exactly) and resizes them
  as TensorFlow did. Same input as torch-fidelity and EDM, so the same FID up to float noise.
* ``clean``: clean-fid resizes each channel to 299x299 with PIL's bicubic filter in float and does
  not quantise; the network runs on those floats (``InceptionExtractor.forward_float255``). This
  changes FID (by 1-2 points on CIFAR-10), which is why the mode is part of the implementation name.

The statistics and the Fréchet distance are clean-fid's (``fid_from_feats`` / ``frechet_distance``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from harness.data.base import to_uint8
from harness.errors import BenchError
from harness.metrics.inception import InceptionExtractor
from harness.metrics.reference import CLEAN, LEGACY_TENSORFLOW, MODES, ReferenceStatistics


def write_pngs(images: torch.Tensor, folder: Path) -> Path:
    """Float [-1, 1] (or uint8) NCHW images as ``000000.png``, ``000001.png``, ... in ``folder``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    pixels = images if images.dtype == torch.uint8 else to_uint8(images.detach().cpu().float())
    array = pixels.permute(0, 2, 3, 1).numpy()
    for i in range(array.shape[0]):
        Image.fromarray(array[i, :, :, 0] if array.shape[-1] == 1 else array[i]).save(folder / f"{i:06d}.png")
    return folder


def feature_model(extractor: InceptionExtractor, mode: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """What clean-fid calls on each batch (float [0, 255], NCHW) to get features."""
    if mode == LEGACY_TENSORFLOW:
        def model(batch: torch.Tensor) -> torch.Tensor:
            rounded = batch.round()
            if (rounded - batch).abs().max() > 1e-3:
                raise BenchError("clean-fid legacy_tensorflow mode passed non-integer pixels; expected native uint8 images")
            return extractor(rounded.clamp(0, 255).to(torch.uint8))
        return model
    if mode == CLEAN:
        return lambda batch: extractor.forward_float255(batch).cpu()
    raise BenchError(f"unknown clean-fid mode '{mode}'; valid: {', '.join(MODES)}")


def features(images: torch.Tensor, extractor: InceptionExtractor, mode: str) -> np.ndarray:
    """clean-fid's features of ``images``: written to PNG, read and preprocessed by clean-fid."""
    from cleanfid.fid import get_folder_features

    with tempfile.TemporaryDirectory(prefix="bench-clean-fid-") as tmp:
        folder = write_pngs(images, Path(tmp) / "images")
        return get_folder_features(str(folder), model=feature_model(extractor, mode), num_workers=0,
                                   batch_size=extractor.batch_size, device=extractor.device, mode=mode,
                                   verbose=False)


def statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance as clean-fid computes them (``np.mean``, ``np.cov``)."""
    return np.mean(feats, axis=0), np.cov(feats, rowvar=False)


class _LinalgWithDisp:
    """scipy.linalg as clean-fid 0.1.35 calls it: ``sqrtm(A, disp=False)`` -> (root, error estimate).
    scipy 1.18 removed ``disp`` (sqrtm returns the root alone); the estimate is the relative
    Frobenius residual, which clean-fid discards."""

    def __init__(self, linalg):
        self._linalg = linalg

    def __getattr__(self, name: str):
        return getattr(self._linalg, name)

    def sqrtm(self, matrix, disp: bool = True, blocksize: int = 64):
        root = self._linalg.sqrtm(matrix)
        if disp:
            return root
        return root, float(np.linalg.norm(root @ root - matrix) / np.linalg.norm(matrix))


def _clean_fid_scipy_compat() -> None:
    """Gives clean-fid a ``sqrtm`` that takes ``disp`` when the installed scipy's does not."""
    import inspect

    import cleanfid.fid
    from scipy import linalg

    if "disp" not in inspect.signature(linalg.sqrtm).parameters and not isinstance(cleanfid.fid.linalg, _LinalgWithDisp):
        cleanfid.fid.linalg = _LinalgWithDisp(linalg)


def fid(fake: torch.Tensor, real: torch.Tensor | None, reference: ReferenceStatistics | None,
        extractor: InceptionExtractor, mode: str) -> tuple[float, dict[str, Any]]:
    import cleanfid
    from cleanfid.fid import fid_from_feats, frechet_distance

    _clean_fid_scipy_compat()

    fake_features = features(fake, extractor, mode)
    details = {"mode": mode, "input": f"PNG files read by clean-fid ({mode} preprocessing)",
               "clean_fid_version": getattr(cleanfid, "__version__", "unknown")}
    if reference is not None:
        mu, sigma = statistics(fake_features)
        return float(frechet_distance(mu, sigma, reference.mu, reference.sigma)), details
    if real is None:
        raise BenchError("clean-fid FID needs real images or reference statistics")
    return float(fid_from_feats(fake_features, features(real, extractor, mode))), details
