"""samples.png: tiles upscaled and separated by a gutter, a title band, a layout the report can read back,
and grids of older runs (touching tiles, no title) still read at their own resolution."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from harness.sample_grid import GRID_CHUNK, GUTTER, GUTTER_VALUE, MIN_TILE, grid_title, read_tiles, save_grid


def images(n: int, channels: int = 1, size: int = 8) -> torch.Tensor:
    return torch.rand((n, channels, size, size), generator=torch.Generator().manual_seed(0)) * 2 - 1


def as_bytes(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def test_digits_grid_is_padded_upscaled_titled_and_reads_back_exactly(tmp_path):
    x = images(10)
    title = grid_title("gan_only", "digits", 20.0, 1, 0, 9)
    layout = save_grid(x, tmp_path / "a.png", grid=3, title=title)
    save_grid(x, tmp_path / "b.png", grid=3, title=title)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()  # deterministic
    assert "run seed 1" in title and "20 kimg" in title and "gan_only" in title
    picture = Image.open(tmp_path / "a.png")
    assert GRID_CHUNK in picture.text and layout.count == 9  # only grid x grid samples are shown
    assert layout.tile >= MIN_TILE and layout.tile % 8 == 0 and layout.scale == layout.tile // 8
    pixels = np.asarray(picture)
    # the gutter between the first two tiles, over the tile's whole height, is the light gutter colour
    left, upper, right, lower = layout.box(0)
    assert (pixels[upper:lower, right:right + GUTTER] == GUTTER_VALUE).all()
    assert (pixels[lower:lower + GUTTER, left:right] == GUTTER_VALUE).all()
    assert (pixels[:layout.top] < 128).any(), "the title band has no text in it"
    tiles, read = read_tiles(tmp_path / "a.png", grid=99, first_seed=99, count=4)  # the file's layout wins
    assert read == layout and len(tiles) == 4
    np.testing.assert_array_equal(np.stack(tiles), as_bytes(x[:4])[..., 0])


def test_rgb_grid_reads_back_in_colour(tmp_path):
    x = images(4, channels=3, size=32)
    save_grid(x, tmp_path / "g.png", grid=2, title="t", first_seed=7)
    tiles, layout = read_tiles(tmp_path / "g.png", 2, 0, 4)
    assert layout.first_seed == 7 and tiles[0].shape == (32, 32, 3)
    np.testing.assert_array_equal(np.stack(tiles), as_bytes(x))


def test_grid_of_an_older_run_is_read_with_its_upscaling_undone(tmp_path):
    """Older grids: grid x grid touching tiles, nearest-upscaled to 256 px, no layout chunk."""
    x = as_bytes(images(16))[..., 0]
    canvas = np.zeros((32, 32), dtype=np.uint8)
    for i in range(16):
        row, col = divmod(i, 4)
        canvas[row * 8:(row + 1) * 8, col * 8:(col + 1) * 8] = x[i]
    Image.fromarray(canvas).resize((256, 256), Image.NEAREST).save(tmp_path / "old.png")
    tiles, layout = read_tiles(tmp_path / "old.png", grid=4, first_seed=0, count=8)
    assert layout.gutter == 0 and layout.top == 0 and layout.tile == 64
    np.testing.assert_array_equal(np.stack(tiles), x[:8])
