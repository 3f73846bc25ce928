"""scripts/redraw_sample_grids.py: older runs' grids are redrawn titled and padded with the very same
samples; grids already in today's layout, and records without a grid size, are left alone."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
from PIL import Image

from harness.sample_grid import GRID_CHUNK, read_tiles

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "redraw_sample_grids.py"


def load_script():
    spec = importlib.util.spec_from_file_location("redraw_sample_grids", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def legacy_grid(path: Path, rng: np.random.Generator) -> np.ndarray:
    """A 4 x 4 grid of 8 x 8 samples as older runs wrote it: touching tiles, upscaled 8x to 256 px."""
    samples = rng.integers(0, 256, (16, 8, 8), dtype=np.uint8)
    canvas = np.concatenate([np.concatenate(list(samples[r * 4:(r + 1) * 4]), axis=1) for r in range(4)], axis=0)
    Image.fromarray(canvas).resize((256, 256), Image.NEAREST).save(path)
    return samples


def test_old_grids_are_redrawn_with_the_same_samples_and_a_title(tmp_path):
    rng = np.random.default_rng(0)
    runs = {}
    for name, config in (("old", {"eval": {"grid_size": 4, "first_seed": 0}}), ("noconfig", {})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "record.json").write_text(json.dumps(
            {"method": "gan_only", "dataset": "digits", "budget_kimg": 20.0, "seed": 1, "config": config}))
        runs[name] = legacy_grid(tmp_path / name / "samples.png", rng)
    before = (tmp_path / "noconfig" / "samples.png").read_bytes()
    lines = load_script().redraw(tmp_path)
    assert any(line.endswith("old/samples.png: redrawn (8 px samples, x6)") for line in lines), lines
    assert any("noconfig/samples.png: skipped" in line for line in lines), lines
    assert (tmp_path / "noconfig" / "samples.png").read_bytes() == before
    with Image.open(tmp_path / "old" / "samples.png") as picture:
        assert GRID_CHUNK in picture.text
    tiles, layout = read_tiles(tmp_path / "old" / "samples.png", 4, 0, 16)
    assert layout.top > 0 and layout.gutter > 0
    np.testing.assert_array_equal(np.stack(tiles), runs["old"])
    after = (tmp_path / "old" / "samples.png").read_bytes()
    assert any("already in today's layout" in line for line in load_script().redraw(tmp_path))
    assert (tmp_path / "old" / "samples.png").read_bytes() == after
