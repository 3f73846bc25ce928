"""A run's ``samples.png``: the first evaluation samples as a titled, padded grid that reads at a glance.

Small images (digits are 8x8) are upscaled by an integer factor (nearest neighbour, so no pixel is
invented) and separated by a light gutter, so neighbouring tiles never merge into streaks. The title
names what made the grid (method, dataset, budget, run seed, sample seeds). The layout is stored in
the PNG itself (a ``bench-grid`` text chunk), so the report can cut single samples back out of it;
grids written before that chunk existed are read with the layout they had (no gutter, no title).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

GRID_CHUNK = "bench-grid"
MIN_TILE = 48  # pixels: an 8x8 digit becomes 48x48
GUTTER = 4
GUTTER_VALUE = 235  # light grey: visible against both the dark digits background and light images
TITLE_HEIGHT = 22
LEGACY_MIN_SIZE = 256  # the grids of older runs: no gutter, no title, upscaled to at least 256 px


@dataclass(frozen=True)
class GridLayout:
    """Where tile ``i`` (sample seed ``first_seed + i``) lies in the PNG, in pixels."""

    grid: int
    count: int
    tile: int
    gutter: int
    top: int
    first_seed: int
    scale: int = 0  # integer upscaling of each sample; 0: not recorded (older grids), see ``native``

    def box(self, index: int) -> tuple[int, int, int, int]:
        row, col = divmod(index, self.grid)
        left = self.gutter + col * (self.tile + self.gutter)
        upper = self.top + self.gutter + row * (self.tile + self.gutter)
        return left, upper, left + self.tile, upper + self.tile


def grid_title(method: str, dataset: str, budget_kimg: float, seed: int, first_seed: int, count: int) -> str:
    return (f"{method} · {dataset} · {budget_kimg:g} kimg · run seed {seed} · "
            f"sample seeds {first_seed}-{first_seed + count - 1}")


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def save_grid(images, path: Path, grid: int = 8, title: str = "", first_seed: int = 0) -> GridLayout:
    """Write up to grid x grid samples (a [-1, 1] tensor, N x C x H x W) as a titled PNG; returns the layout."""
    from PIL import Image, ImageDraw, PngImagePlugin

    from harness.data import to_uint8

    pixels = to_uint8(images[: grid * grid]).permute(0, 2, 3, 1).numpy()
    count, height, _, channels = pixels.shape
    scale = max(1, -(-MIN_TILE // height))
    tile = height * scale
    top = TITLE_HEIGHT if title else 0
    layout = GridLayout(grid, count, tile, GUTTER, top, first_seed, scale)
    rows = -(-count // grid)
    size = (GUTTER + grid * (tile + GUTTER), top + GUTTER + rows * (tile + GUTTER))
    mode = "L" if channels == 1 else "RGB"
    canvas = Image.new(mode, size, GUTTER_VALUE if mode == "L" else (GUTTER_VALUE,) * 3)
    for i in range(count):
        picture = Image.fromarray(pixels[i, :, :, 0] if channels == 1 else pixels[i], mode)
        canvas.paste(picture.resize((tile, tile), Image.NEAREST), layout.box(i)[:2])
    if title:
        draw = ImageDraw.Draw(canvas)
        font_size = 13
        while font_size > 7 and draw.textlength(title, font=_font(font_size)) > size[0] - 2 * GUTTER:
            font_size -= 1
        draw.rectangle((0, 0, size[0], top - 1), fill=255 if mode == "L" else (255, 255, 255))
        draw.text((GUTTER, top // 2), title, fill=0 if mode == "L" else (0, 0, 0), font=_font(font_size), anchor="lm")
    info = PngImagePlugin.PngInfo()
    info.add_text(GRID_CHUNK, json.dumps(asdict(layout), sort_keys=True))
    canvas.save(path, format="png", pnginfo=info)
    return layout


def read_layout(picture, grid: int, first_seed: int) -> GridLayout:
    """The stored layout, or the legacy one (square canvas of grid x grid touching tiles, no title)."""
    text = getattr(picture, "text", {}).get(GRID_CHUNK)
    if text:
        return GridLayout(**json.loads(text))
    tile = picture.size[0] // grid
    return GridLayout(grid, grid * grid, tile, 0, 0, first_seed)


def upscaling(tiles: list[np.ndarray]) -> int:
    """The largest factor s such that every tile is made of constant s x s blocks: the nearest-neighbour
    upscaling an older grid applied (it did not record it)."""
    size = tiles[0].shape[0]
    for s in range(size // 2, 1, -1):
        if size % s == 0 and all(np.array_equal(t, np.repeat(np.repeat(t[::s, ::s], s, 0), s, 1)) for t in tiles):
            return s
    return 1


def read_tiles(path: Path, grid: int, first_seed: int, count: int) -> tuple[list[np.ndarray], GridLayout]:
    """The first ``count`` samples of a stored grid at their own resolution (the upscaling undone), as
    uint8 arrays (H x W or H x W x 3), and the grid's layout.

    ``grid`` and ``first_seed`` (the run's ``eval.grid_size`` and ``eval.first_seed``) are only needed
    for grids written before the layout was stored in the file.
    """
    from PIL import Image

    with Image.open(path) as picture:
        picture.load()
        layout = read_layout(picture, grid, first_seed)
        rgb = picture.mode not in ("L", "1", "I", "I;16")
        converted = picture.convert("RGB" if rgb else "L")
    tiles = [np.asarray(converted.crop(layout.box(i))) for i in range(min(count, layout.count))]
    scale = layout.scale or (upscaling(tiles) if tiles else 1)
    return [t[::scale, ::scale] for t in tiles], layout


def redraw_legacy_grid(path: Path, grid: int, first_seed: int, title: str) -> GridLayout | None:
    """Redraw a grid written before the layout was stored (touching tiles, no title) in today's layout,
    from its own pixels: the nearest-neighbour upscaling is undone exactly, so every sample keeps its
    bytes (checked by reading the new file back). None when the file already has a stored layout."""
    import os

    import torch
    from PIL import Image

    with Image.open(path) as picture:
        if GRID_CHUNK in getattr(picture, "text", {}):
            return None
    tiles, _ = read_tiles(path, grid, first_seed, grid * grid)
    pixels = torch.from_numpy(np.stack(tiles)).float()
    images = (pixels if pixels.ndim == 4 else pixels.unsqueeze(-1)).permute(0, 3, 1, 2) / 127.5 - 1
    scratch = path.with_name(path.name + ".new")
    layout = save_grid(images, scratch, grid, title, first_seed)
    again, _ = read_tiles(scratch, grid, first_seed, grid * grid)
    if not all(np.array_equal(a, b) for a, b in zip(tiles, again)) or len(again) != len(tiles):
        scratch.unlink()
        raise ValueError(f"{path}: the redrawn grid does not hold the same samples; left unchanged")
    os.replace(scratch, path)
    return layout
