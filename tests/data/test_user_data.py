"""The user's own data (harness/data/user_data.py): an EDM dataset_tool zip trains and evaluates end
to end; image folders with class sub-folders; every bad input refused before any work."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.data import DATASETS, load_dataset, to_uint8
from harness.errors import UsageError
from helpers import invoke_bench


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="png")
    return buffer.getvalue()


def edm_zip(path: Path, pixels: np.ndarray, labels: list[int] | None) -> Path:
    """A zip laid out as EDM's dataset_tool.py writes one: ``{idx // 1000:05d}/img{idx:08d}.png`` and
    ``dataset.json`` holding ``{"labels": [[archive name, class], ...]}`` (or null)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        names = []
        for idx, image in enumerate(pixels):
            name = f"{idx // 1000:05d}/img{idx:08d}.png"
            archive.writestr(name, png_bytes(image))
            names.append(name)
        archive.writestr("dataset.json", json.dumps(
            {"labels": [[n, int(c)] for n, c in zip(names, labels)] if labels is not None else None}))
    return path


@pytest.fixture(scope="module")
def digit_pixels() -> tuple[np.ndarray, list[int]]:
    digits = load_dataset("digits")
    return to_uint8(digits.all_images()[:256])[:, 0].numpy(), digits.labels[:256].tolist()


@pytest.mark.slow
def test_dataset_tool_zip_trains_and_evaluates_end_to_end(digit_pixels, tmp_path: Path, monkeypatch, capsys) -> None:
    archive = edm_zip(tmp_path / "mydigits.zip", *digit_pixels)
    spec = DATASETS.get(f"zip:{archive}")
    assert (spec.resolution, spec.channels, spec.num_classes, spec.default_backbone) == (8, 1, 10, None)
    code, out, err = invoke_bench(monkeypatch, capsys, "run", "--method", "gan_only", "--dataset", f"zip:{archive}",
                                  "--backbone", "edm-digits-8x8-uncond", "--budget-kimg", "0.032", "--num-samples",
                                  "40", "--eval-every-kimg", "0", "--set", "train.batch_size=32", "--set",
                                  "tensorboard=false", "--set", "eval.feature_extractor=digits-classifier",
                                  "--results", str(tmp_path / "r"), "--quiet")
    assert code == 0, err
    record = json.loads(Path(out.strip().splitlines()[-1]).read_text())
    assert Path(out.strip().splitlines()[-1]).parent.name.startswith("zip-mydigits-gan_only-s0-")
    assert record["data"]["num_images"] == 256 and record["data"]["sha256"] == load_dataset(f"zip:{archive}").sha256
    fd = next(m for m in record["metrics"] if m["name"] == "fd")
    assert fd["extractor"] == "digits-classifier" and np.isfinite(fd["value"])
    code, out, err = invoke_bench(monkeypatch, capsys, "eval", "--checkpoint", str(Path(out.strip().splitlines()[-1]).parent),
                                  "--metric", "fd", "--num-samples", "40", "--results", str(tmp_path / "e"), "--quiet")
    assert code == 0, err
    assert json.loads(Path(out.strip().splitlines()[-1]).read_text())["metrics"][0]["value"] == fd["value"]


def test_folder_with_class_subfolders_and_content_hash(digit_pixels, tmp_path: Path) -> None:
    pixels, labels = digit_pixels
    for i in range(12):
        (tmp_path / "f" / f"class{labels[i] % 3}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i]).save(tmp_path / "f" / f"class{labels[i] % 3}" / f"{i}.png")
    data = load_dataset(f"folder:{tmp_path / 'f'}")
    assert len(data) == 12 and data.num_classes == 3 and data.images.dtype.is_floating_point is False
    first = data.sha256
    Image.fromarray(255 - pixels[0]).save(tmp_path / "f" / f"class{labels[0] % 3}" / "0.png")
    assert load_dataset(f"folder:{tmp_path / 'f'}").sha256 != first  # same folder name, other content


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "empty").mkdir(), "no images"),
    (lambda d: zipfile.ZipFile(d / "empty", "w").writestr("dataset.json", '{"labels": null}'), "no images inside"),
    (lambda d: ((d / "empty").mkdir(), (d / "empty" / "a.png").write_bytes(png_bytes(np.zeros((8, 8), np.uint8))),
                (d / "empty" / "b.png").write_bytes(png_bytes(np.zeros((16, 16), np.uint8)))), "b.png: image is"),
    (lambda d: ((d / "empty").mkdir(), (d / "empty" / "a.png").write_bytes(b"not a png")), "a.png: truncated or corrupt"),
])
def test_bad_user_data_is_refused_before_work(make, message, tmp_path: Path, monkeypatch, capsys) -> None:
    make(tmp_path)
    kind = "zip" if (tmp_path / "empty").is_file() else "folder"
    with pytest.raises(UsageError, match=message):
        DATASETS.get(f"{kind}:{tmp_path / 'empty'}")
    code, _, err = invoke_bench(monkeypatch, capsys, "run", "--method", "gan_only", "--dataset",
                                f"{kind}:{tmp_path / 'empty'}", "--backbone", "edm-digits-8x8-uncond", "--results",
                                str(tmp_path / "r"))
    assert code == 2 and message in err and not (tmp_path / "r").exists()


def test_resolution_is_checked_against_the_backbone(tmp_path: Path, monkeypatch, capsys) -> None:
    edm_zip(tmp_path / "big.zip", np.zeros((4, 16, 16), np.uint8), None)
    code, _, err = invoke_bench(monkeypatch, capsys, "run", "--method", "gan_only", "--dataset",
                                f"zip:{tmp_path / 'big.zip'}", "--backbone", "edm-digits-8x8-uncond", "--results",
                                str(tmp_path / "r"))
    assert code == 2 and "1x16x16 but backbone" in err and not (tmp_path / "r").exists()
