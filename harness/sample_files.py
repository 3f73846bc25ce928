"""Generated images on disk in the formats outside evaluators read.

- PNG folders in the layout of NVlabs/edm ``generate.py``: one ``{seed:06d}.png`` per seed, with
  ``--subdirs`` inside ``{seed - seed % 1000:06d}/`` folders of 1000; 8-bit, L for one channel, RGB for
  three. torch-fidelity (``fidelity --input1 DIR``), clean-fid and EDM's ``fid.py`` read such folders.
- One ``.npz`` in the format of the ADM evaluator (openai/guided-diffusion ``evaluations/evaluator.py``,
  the one DMD2 and consistency_models report with): ``arr_0`` uint8 [N, H, W, C], and for a
  conditional model ``arr_1`` int64 class labels [N].

Files are written whole or not at all (temporary name, then rename), so a stopped export resumes
by skipping the files that exist (an npz from its shards: ``harness.sample_shards``). Reading an npz never unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.errors import BenchError, UsageError
from harness.files import NPZ_ERRORS, npz_trouble

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
MANIFEST = "bench-sample.json"  # beside the PNGs: which generator and seeds made them


def png_path(out: Path, seed: int, subdirs: bool) -> Path:
    """Where EDM's generate.py puts the image of ``seed``."""
    folder = Path(out) / f"{seed - seed % 1000:06d}" if subdirs else Path(out)
    return folder / f"{seed:06d}.png"


def write_png(path: Path, image: np.ndarray) -> None:
    """One uint8 HWC image (C 1 or 3) as a PNG, atomically."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(np.ascontiguousarray(image[:, :, 0] if image.shape[2] == 1 else image))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        picture.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_manifest(path: Path, data: dict) -> None:
    """The folder's ``bench-sample.json`` (replaced on a resumed or forced export)."""
    import json

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_manifest(path: Path) -> dict | None:
    """A folder's ``bench-sample.json``; None when there is none. One that does not parse as a JSON
    object reads as ``{"unreadable": True}``: it names no generator, so it vouches for nothing."""
    import json

    path = Path(path)
    if not os.path.lexists(path):
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = None
    return data if isinstance(data, dict) else {"unreadable": True}


def source_text(manifest: dict) -> str:
    """The generator a manifest names, for a message: ``run ID``, ``method NAME`` or why there is none."""
    source = manifest.get("source")
    if manifest.get("unreadable") is True:
        return f"an unreadable {MANIFEST}"
    if not isinstance(source, dict) or not source.get("kind"):
        return "a manifest without its source"
    name = source.get("run_id") or source.get("method")
    return f"{source['kind']} {name}" if name else str(source["kind"])


def vouched_by(out: Path, manifest: dict) -> tuple[set[str], list[int], dict[str, int]]:
    """What a PNG folder's manifest vouches for: the file names of its seeds and labels, its seeds
    whose file is there (in its own layout), and the recorded class of each file there."""
    from harness.seed_ranges import parse_seeds

    out = Path(out)
    try:  # an EDM seed text in every manifest so far; anything else vouches for no seed
        listed = parse_seeds(str(manifest["seeds"])) if isinstance(manifest.get("seeds"), (str, int)) else []
    except UsageError:
        listed = []
    names = [png_path(out, s, bool(manifest.get("subdirs"))).relative_to(out).as_posix() for s in listed]
    entries = manifest.get("labels") if isinstance(manifest.get("labels"), list) else []
    recorded = {e[0]: e[1] for e in entries if isinstance(e, list) and len(e) == 2 and isinstance(e[0], str)
                and (out / e[0]).is_file()}
    there = [s for s, name in zip(listed, names) if (out / name).is_file()]
    return set(names) | set(recorded), there, recorded


def to_hwc_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] float NCHW (or uint8 NCHW) -> uint8 NHWC, rounded as image files store them."""
    from harness.data.base import to_uint8

    pixels = images if images.dtype == torch.uint8 else to_uint8(images.float())
    return pixels.permute(0, 2, 3, 1).contiguous().numpy()


def write_arrays(path: Path, arrays: dict[str, np.ndarray], scratch: Path | None = None) -> Path:
    """An ``.npz`` of ``arrays`` as ``np.savez`` lays it out (uncompressed ``NAME.npy`` entries), but
    with a fixed entry timestamp, so the same arrays give the same bytes (``np.savez`` stamps the
    current time). Written whole or not at all: a temporary file in ``scratch`` (default: beside
    ``path``, same file system), then renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(scratch or path.parent) / f".{path.name}.{os.getpid()}.tmp"
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in arrays.items():
                entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                entry.external_attr = 0o644 << 16
                with archive.open(entry, "w", force_zip64=True) as stream:
                    np.lib.format.write_array(stream, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_npz(path: Path, images: np.ndarray, labels: np.ndarray | None, scratch: Path | None = None) -> Path:
    """ADM's sample batch: ``arr_0`` uint8 NHWC, ``arr_1`` labels when the model is conditional."""
    arrays = {"arr_0": np.ascontiguousarray(images, dtype=np.uint8)}
    if labels is not None:
        arrays["arr_1"] = np.asarray(labels, dtype=np.int64)
    return write_arrays(path, arrays, scratch)


def read_npz(path: Path, flag: str = "--samples") -> tuple[np.ndarray, np.ndarray | None]:
    """An ADM-format sample file -> (uint8 NHWC, labels or None), refusing every other layout."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "arr_0" not in data.files:
                raise UsageError(f"{flag} {path}: no arr_0 in it (ADM's sample format: arr_0 uint8 [N, H, W, C])")
            images = data["arr_0"]
            labels = data["arr_1"] if "arr_1" in data.files else None
    except UsageError:
        raise
    except NPZ_ERRORS as exc:
        raise UsageError(f"{flag} {path}: not a readable .npz file ({npz_trouble(path, exc)})") from None
    if images.dtype != np.uint8:
        raise UsageError(f"{flag} {path}: arr_0 is {images.dtype}, expected uint8 pixels (ADM's sample format)")
    if images.ndim != 4 or images.shape[3] not in (1, 3) or images.shape[1] != images.shape[2] or not len(images):
        raise UsageError(f"{flag} {path}: arr_0 has shape {images.shape}, expected [N, H, W, C] with N > 0, "
                         f"square images and C 1 or 3 (NHWC)")
    if labels is not None and (labels.ndim != 1 or len(labels) != len(images)
                               or not np.issubdtype(labels.dtype, np.integer)):
        raise UsageError(f"{flag} {path}: arr_1 is {labels.dtype} {labels.shape}, expected {len(images)} integer labels")
    return images, labels


def nchw(pixels: np.ndarray) -> torch.Tensor:
    """uint8 NHWC -> NCHW with the standard strides of a freshly made tensor. A permuted one-channel
    tensor counts as contiguous with other strides, and CPU convolutions then take another kernel
    whose last bits differ; the same pixels must give the same features as the generator's samples."""
    source = torch.from_numpy(np.asarray(pixels)).permute(0, 3, 1, 2)
    return torch.empty(source.shape, dtype=source.dtype).copy_(source)


def npz_as_samples(path: Path, num: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """An npz as float [-1, 1] NCHW samples (the first ``num``), with provenance like an image folder's."""
    images, _ = read_npz(path)
    if num is not None:
        if num > len(images):
            raise BenchError(f"--samples {path}: {len(images)} images, fewer than --num-samples {num}")
        images = images[:num]
    digest = hashlib.sha256()
    for image in images:  # the same digest as the folder reader's: the pixels of each image in order
        digest.update(np.ascontiguousarray(image).tobytes())
    tensor = nchw(images)
    info = {"kind": "samples", "path": str(path), "format": "npz (ADM)", "num_files": 1, "num_images": len(images),
            "pixels_sha256": digest.hexdigest(), "selection": "first in file order" if num is not None else "all"}
    return tensor.float() / 127.5 - 1.0, info


def image_files(folder: Path, num: int | None = None) -> list[Path]:
    """The image files under ``folder`` (sub-folders included) in the order they are read, the first
    ``num`` when given; a folder that is not there or holds too few images is refused (before any work)
    as a usage error (exit 2), like a mistyped --results."""
    if not folder.is_dir():
        raise UsageError(f"--samples {folder}: not a directory")
    files = sorted((p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                   key=lambda p: p.relative_to(folder).as_posix())
    if not files:
        raise UsageError(f"--samples {folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in it or below it")
    if num is not None:
        if num > len(files):
            raise UsageError(f"--samples {folder}: {len(files)} images, fewer than --num-samples {num}")
        files = files[:num]
    return files


def load_image_folder(folder: Path, num: int | None = None,
                      files: list[Path] | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """Every image file under ``folder`` (sub-folders included), sorted by relative path, as float
    [-1, 1] NCHW; the first ``num`` when given (``files``: ``image_files(folder, num)`` when the caller
    has it already: 50,000 files are listed once). All must share one size and mode (L or RGB)."""
    from PIL import Image

    from harness.progress import phase_progress

    folder = Path(folder)
    files = image_files(folder, num) if files is None else files
    arrays, digest = [], hashlib.sha256()
    # 50,000 PNGs take tens of seconds to decode: shown once it lasts (harness/progress.py).
    with phase_progress(f"reading {len(files):,} images from {folder}", len(files), "files") as advance:
        for path in files:
            try:
                with Image.open(path) as image:
                    if image.mode.startswith("I") or image.mode == "F":  # "L" would clip them to 255
                        raise BenchError(f"{path}: a {image.mode} image (16- or 32-bit); bench reads 8-bit images "
                                         "as FID tools do: save them as 8-bit PNG")
                    mode = "L" if image.mode in ("L", "1") else "RGB"
                    array = np.asarray(image.convert(mode))
            except Image.DecompressionBombError:  # PIL's guard: a header claiming >179M pixels
                raise BenchError(f"{path}: its header claims an image larger than PIL reads "
                                 f"({Image.MAX_IMAGE_PIXELS:,} pixels at most); not a generated sample") from None
            except (OSError, ValueError, SyntaxError, EOFError) as exc:
                raise BenchError(f"{path}: not a readable image ({exc})") from None
            array = array[:, :, None] if array.ndim == 2 else array
            if arrays and array.shape != arrays[0].shape:
                raise BenchError(f"{path}: {array.shape[1]}x{array.shape[0]}x{array.shape[2]} differs from the "
                                 f"first image's {arrays[0].shape[1]}x{arrays[0].shape[0]}x{arrays[0].shape[2]}")
            arrays.append(array)
            digest.update(array.tobytes())
            advance(1)
    images = nchw(np.stack(arrays))
    info = {"kind": "samples", "path": str(folder), "num_files": len(files), "pixels_sha256": digest.hexdigest(),
            "selection": "first by sorted relative path" if num is not None else "all"}
    return images.float() / 127.5 - 1.0, info


def check_samples_fit(fake, where: str, spec, compared: bool) -> None:
    """Images handed to `bench eval`: two at least (a covariance needs them; the features' own message
    named no flag) and, when ``compared`` with the real data of ``spec``, of its size."""
    if fake.shape[0] < 2:
        raise UsageError(f"{where}: {fake.shape[0]} image(s); the metrics need at least 2")
    if compared and tuple(fake.shape[1:]) != (spec.channels, spec.resolution, spec.resolution):
        raise UsageError(f"{where}: images of {fake.shape[3]}x{fake.shape[2]}x{fake.shape[1]} (width x height x "
                         f"channels), but the {spec.name} images they are compared with are "
                         f"{spec.resolution}x{spec.resolution}x{spec.channels}")
