"""Redraw the stored runs' samples.png in today's layout (titled, padded, upscaled): `python
scripts/redraw_sample_grids.py [RESULTS]` (default: results).

Grids written before the layout was stored in the PNG had touching tiles and no title (digits read
as vertical streaks). Each is redrawn from its own pixels, so the samples keep their bytes (the
script checks it per file); the title comes from the run's record. Grids that already carry a
layout are left alone, so a second run changes nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable from a checkout

from harness.records import RECORD_NAME  # noqa: E402
from harness.sample_grid import grid_title, redraw_legacy_grid  # noqa: E402


def redraw(results: Path) -> list[str]:
    lines = []
    for record_path in sorted(results.glob(f"*/{RECORD_NAME}")):
        png = record_path.parent / "samples.png"
        if not png.is_file():
            continue
        record = json.loads(record_path.read_text())
        ev = (record.get("config") or {}).get("eval") or {}
        if "grid_size" not in ev:
            lines.append(f"{png}: skipped (its record has no config.eval.grid_size)")
            continue
        grid, first = int(ev["grid_size"]), int(ev.get("first_seed") or 0)
        title = grid_title(record["method"], record["dataset"], float(record.get("budget_kimg") or 0),
                           int(record["seed"]), first, grid * grid)
        layout = redraw_legacy_grid(png, grid, first, title)
        lines.append(f"{png}: " + ("already in today's layout" if layout is None else
                                   f"redrawn ({layout.tile // layout.scale} px samples, x{layout.scale})"))
    return lines


if __name__ == "__main__":
    for line in redraw(Path(sys.argv[1] if len(sys.argv) > 1 else "results")):
        print(line)
