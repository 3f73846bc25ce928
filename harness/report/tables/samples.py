"""Figure: samples side by side, one row per method, the same sample seeds in every column.

Every run evaluates from the same first sample seed (EDM's protocol: sample i comes from seed i), so
column j shows what each method makes of the same latent. A row is a method at a budget that was
run (not a snapshot read off a curve), shown by its lowest-seed run; the samples are cut out of the
run's stored ``samples.png`` (harness/sample_grid.py), so the figure needs no generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.report.inputs import METHOD_ORDER, Run, dataset_order, dataset_title, group_by
from harness.report.render import Document, Section
from harness.report.spec import Context, TableSpec

COLUMNS = 8  # samples per row
TILE_INCHES = 0.5
LABEL_FONT = 7.0  # points: the row names (the figure style's tick labels)
ROWS_HEADER = "method · budget · run seed"
CSV_HEADER = ["dataset", "backbone", "method", "bench_method", "budget_kimg", "run_seed", "run_id", "record", "samples_file",
              "first_sample_seed", "samples_shown", "runs_at_this_budget"]


Panel = tuple[str, str]  # (dataset key, backbone name)


def panel_order(panels) -> list[Panel]:
    """Datasets in paper order, each dataset's backbones by name."""
    panels = set(panels)
    return [p for key in dataset_order(k for k, _ in panels) for p in sorted(x for x in panels if x[0] == key)]


def panel_title(panel: Panel, panels) -> str:
    """The dataset, and its backbone when the dataset has runs from more than one."""
    key, backbone = panel
    several = len({b for k, b in panels if k == key}) > 1
    return f"{dataset_title(key)}, backbone {backbone}" if several else dataset_title(key)


def text_inches(text: str, points: float = LABEL_FONT) -> float:
    """The width of the widest line of ``text`` in the figure style's font, in inches."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    from harness.report.plots import STYLE

    font = FontProperties(family=STYLE["font.family"], size=points)
    return max(TextToPath().get_text_width_height_descent(line, font, ismath=False)[0]
               for line in text.splitlines()) / 72.0


@dataclass
class Row:
    run: Run
    runs: int  # runs of this method at this budget (one is shown)
    tiles: list[np.ndarray]
    first_seed: int

    @property
    def label(self) -> str:
        """Two lines: the method (some names are long), then its budget and run seed."""
        budget = f"{self.run.budget_kimg:g} kimg" if self.run.budget_kimg else "not trained"
        return f"{self.run.label}\n{budget} · seed {self.run.seed}"


def eval_settings(ctx: Context) -> dict[str, tuple[int, int]]:
    """run id -> (grid size, first sample seed) from each record's config (needed for older grids)."""
    out = {}
    for record in ctx.inputs.all_records:
        ev = ((record.get("config") or {}).get("eval") or {}) if isinstance(record.get("config"), dict) else {}
        out[str(record.get("run_id"))] = (int(ev.get("grid_size") or 8), int(ev.get("first_seed") or 0))
    return out


def rows_of(ctx: Context) -> tuple[dict[Panel, list[Row]], list[str]]:
    """Rows per panel (dataset key, backbone), and a note per run that has no readable samples.png.

    One panel per backbone: rows from two backbones of one dataset are not the same comparison."""
    from harness.sample_grid import read_tiles

    settings = eval_settings(ctx)
    runs = [r for r in ctx.inputs.runs if r.schedule_kimg is None]
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    groups = group_by(runs, lambda r: (r.key, r.backbone, order.get(r.method, len(order)), r.method, r.label,
                                       r.budget_kimg))
    rows: dict[Panel, list[Row]] = {}
    problems = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda r: (r.seed, r.run_id))
        for run in group:  # the lowest seed with a readable grid
            path = ctx.inputs.results_dir / Path(run.name).parent / "samples.png"
            grid, first = settings.get(run.run_id, (8, 0))
            try:
                tiles, layout = read_tiles(path, grid, first, COLUMNS)
            except (OSError, ValueError):
                continue
            rows.setdefault((run.key, run.backbone), []).append(Row(run, len(group), tiles, layout.first_seed))
            break
        else:
            problems.append(f"{group[0].label} at {group[0].budget_kimg:g} kimg ({dataset_title(key[0])}, "
                            f"backbone {key[1]}): no readable "
                            f"samples.png in its {len(group)} run(s), e.g. {Path(group[0].name).parent}/samples.png")
    for key, items in rows.items():  # same seeds in every row: keep the rows that start where most do
        firsts = [row.first_seed for row in items]
        common = max(set(firsts), key=lambda f: (firsts.count(f), -f))
        for row in items:
            if row.first_seed != common:
                problems.append(f"{row.run.run_id}: its samples start at seed {row.first_seed}, not {common}; "
                                "left out of the comparison")
        rows[key] = [row for row in items if row.first_seed == common]
    return rows, problems


def strip(tiles: list[np.ndarray], size: int) -> np.ndarray:
    """Tiles side by side as RGB, each framed by one light pixel; a smaller tile is repeated up to ``size``."""
    out = np.full((size + 2, COLUMNS * (size + 2), 3), 235, dtype=np.uint8)
    for j, tile in enumerate(tiles[:COLUMNS]):
        factor = size // tile.shape[0]
        tile = np.repeat(np.repeat(tile, factor, axis=0), factor, axis=1)
        rgb = np.repeat(tile[:, :, None], 3, axis=2) if tile.ndim == 2 else tile
        out[1:size + 1, j * (size + 2) + 1:j * (size + 2) + 1 + size] = rgb
    return out


def drawer(rows: dict[Panel, list[Row]], note: str):
    """Panels stacked; the row names' column is as wide as the widest name, so none is cut off."""
    keys = panel_order(rows)
    # The backbone on a second line: on one, a backbone's long name ran past the figure's edge.
    titles = {k: panel_title(k, rows).replace(", backbone ", "\nbackbone ", 1) for k in keys}
    heights = [len(rows[k]) * TILE_INCHES + 0.8 + 0.15 * titles[k].count("\n") for k in keys] or [1.5]
    names = [row.label for k in keys for row in rows[k]] + [ROWS_HEADER]
    label_inches = max(text_inches(name) for name in names) + 0.25
    width, height = label_inches + COLUMNS * TILE_INCHES + 0.3, sum(heights) + 0.2

    def draw(figure) -> None:
        top = height - 0.1
        if not keys:
            ax = figure.add_axes((0.05, 0.1, 0.9, 0.8))
            from harness.report.plots import empty_panel

            empty_panel(ax, note)
            return
        for key, block in zip(keys, heights):
            items = rows[key]
            size = max(t.shape[0] for row in items for t in row.tiles)
            image = np.concatenate([strip(row.tiles, size) for row in items], axis=0)
            ax = figure.add_axes((label_inches / width, (top - block + 0.45) / height,
                                  COLUMNS * TILE_INCHES / width, len(items) * TILE_INCHES / height))
            ax.imshow(image, interpolation="nearest", aspect="auto")
            ax.grid(False)
            ax.set_yticks([(i + 0.5) * (size + 2) for i in range(len(items))], [row.label for row in items],
                          fontsize=LABEL_FONT)
            ax.set_xticks([(j + 0.5) * (size + 2) for j in range(COLUMNS)],
                          [str(items[0].first_seed + j) for j in range(COLUMNS)])
            ax.tick_params(length=0)
            ax.set_xlabel("sample seed (the same latent in every row)")
            # What the row names say, above them (a rotated axis label beside a one-row panel ran into
            # the next panel's title).
            ax.text(-0.01, 1.0, ROWS_HEADER, transform=ax.transAxes, ha="right", va="bottom", fontsize=LABEL_FONT,
                    style="italic", color="#333333")
            ax.set_title(titles[key], fontsize=8)
            top -= block

    return draw, (width, height)


def build(spec: TableSpec, ctx: Context) -> Document:
    rows, problems = rows_of(ctx)
    sections, csv_rows = [], []
    for key in panel_order(rows):
        table, sources = [], []
        for row in rows[key]:
            run_dir = str(Path(row.run.name).parent)
            seeds = f"{row.first_seed}-{row.first_seed + len(row.tiles) - 1}"
            table.append([row.run.label, f"{row.run.budget_kimg:g}", str(row.run.seed), seeds,
                          f"{row.runs}", f"{run_dir}/samples.png"])
            sources.append(f"samples {seeds} cut out of {run_dir}/samples.png; record {row.run.name}")
            csv_rows.append({"dataset": key[0], "backbone": key[1], "method": row.run.label, "bench_method": row.run.method,
                             "budget_kimg": row.run.budget_kimg, "run_seed": row.run.seed, "run_id": row.run.run_id,
                             "record": row.run.name, "samples_file": f"{run_dir}/samples.png",
                             "first_sample_seed": row.first_seed, "samples_shown": len(row.tiles),
                             "runs_at_this_budget": row.runs})
        sections.append(Section(panel_title(key, rows), ["method", "budget (kimg)", "run seed shown", "sample seeds",
                                                     "runs at this budget", "samples from"], table,
                                sources=sources))
    note = "no stored runs with a samples.png yet: run `bench run --method gan_only --dataset digits`"
    if not sections:
        sections.append(Section("No samples stored", [], [], [note]))
    if problems:
        sections[-1].notes += problems
    draw, size = drawer(rows, note)
    return Document(spec.name, spec.title, spec.caption, sections, CSV_HEADER, csv_rows, figure=draw,
                    figure_size=size, vector=True)


SPEC = TableSpec(
    name="samples",
    title="Samples side by side: one row per method and budget, the same sample seeds in every column",
    caption=("Each row: the first samples of one stored run (the lowest seed at that method and budget), cut out of "
             "its samples.png at the generator's own resolution. Every run draws sample i from seed i "
             "(EDM's protocol), so a column shows what each method makes of the same latent."),
    build=build,
)
