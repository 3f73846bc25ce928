"""The sample comparison: one row per method and budget, the same sample seeds in every column, cut out
of each run's samples.png (new and older grids alike); runs without a grid or with other seeds are named."""

from __future__ import annotations

import csv
import io

import numpy as np
import torch
from PIL import Image

from harness.report.inputs import sort_records
from harness.report.published import load_published
from harness.report.spec import Context
from harness.report.tables.samples import COLUMNS, rows_of
from harness.records import load_records
from harness.sample_grid import save_grid
from report_fixtures import run_record, write_records


def seed_images(first_seed: int, offset: int, n: int = 16) -> torch.Tensor:
    """Sample i is grey level 4 * (first_seed + i) + offset at its top-left pixel (its seed can be read off
    it), on a fine checkerboard (so an upscaled copy can be told from a larger image)."""
    levels = torch.tensor([4 * (first_seed + i) + offset for i in range(n)], dtype=torch.float32)
    checker = (torch.arange(8).reshape(8, 1) + torch.arange(8)) % 2 * 2.0
    return ((levels.reshape(n, 1, 1, 1) + checker) / 127.5 - 1).reshape(n, 1, 8, 8)


def context(results) -> Context:
    records, _ = load_records(results)
    return Context(sort_records(records, results), load_published())


def test_rows_show_the_same_seeds_per_method_and_name_what_is_left_out(tmp_path):
    records = [run_record(1, "gan_only", case=5, seed=1, budget_kimg=20.0),
               run_record(2, "gan_only", case=5, seed=0, budget_kimg=20.0),
               run_record(3, "dmd", case=5, seed=0, budget_kimg=20.0),
               run_record(4, "teacher", case=5, seed=0),
               run_record(5, "progressive_distillation", case=5, seed=0, budget_kimg=20.0)]
    records[3]["config"] = {"eval": {"grid_size": 4, "first_seed": 0}}  # how an older grid is laid out
    results = write_records(tmp_path / "results", records)
    grids = {records[0]["run_id"]: (0, 1), records[1]["run_id"]: (0, 2), records[2]["run_id"]: (0, 3),
             records[4]["run_id"]: (100, 0)}  # PD's grid starts at another seed; the teacher has none
    for run_id, (first, offset) in grids.items():
        save_grid(seed_images(first, offset), results / run_id / "samples.png", grid=4, title="t", first_seed=first)
    # the teacher's grid is an older one: touching tiles, upscaled 4x, no layout chunk
    old = torch.cat([torch.cat(list(seed_images(0, 0)[r * 4:(r + 1) * 4, 0]), dim=1) for r in range(4)], dim=0)
    Image.fromarray(((old + 1) * 127.5).round().numpy().astype(np.uint8)).resize((128, 128), Image.NEAREST).save(
        results / records[3]["run_id"] / "samples.png")
    rows, problems = rows_of(context(results))
    [panel] = rows  # one dataset, one backbone: one panel
    assert panel[0] == "digits"
    shown = {row.run.method: row for row in rows[panel]}
    assert list(shown) == ["gan_only", "dmd", "teacher"]  # paper order; PD left out
    assert shown["gan_only"].run.seed == 0 and shown["gan_only"].runs == 2  # the lowest seed is shown
    for method, offset in (("gan_only", 2), ("dmd", 3), ("teacher", 0)):
        tiles = shown[method].tiles
        assert len(tiles) == COLUMNS and all(t.shape == (8, 8) for t in tiles)
        assert [int(t[0, 0]) for t in tiles] == [4 * i + offset for i in range(COLUMNS)], method
    assert any("starts at seed 100" in line or "start at seed 100" in line for line in problems), problems


def test_report_writes_the_figure_its_table_and_names_runs_without_samples(tmp_path):
    from harness.report import write_document
    from harness.report.tables.samples import SPEC

    records = [run_record(1, "gan_only", case=5, seed=0, budget_kimg=20.0), run_record(2, "dmd", case=5, seed=0, budget_kimg=20.0)]
    results = write_records(tmp_path / "results", records)
    save_grid(seed_images(0, 0), results / records[0]["run_id"] / "samples.png", grid=4, title="t")
    (tmp_path / "out").mkdir()
    write_document(SPEC.document(context(results)), tmp_path / "out")
    table = list(csv.DictReader(io.StringIO((tmp_path / "out" / "samples.csv").read_text())))
    shown = [(r["bench_method"], r["first_sample_seed"], r["samples_shown"]) for r in table]
    assert shown == [("gan_only", "0", "8")]
    markdown = (tmp_path / "out" / "samples.md").read_text()
    assert f"DMD2-style at 20 kimg (digits 8x8 (offline), backbone {records[1]['backbone']['name']}): no readable " \
           "samples.png in its 1 run(s), e.g. " \
           f"{records[1]['run_id']}/samples.png" in markdown
    png = Image.open(tmp_path / "out" / "samples.png")
    assert png.info["dpi"][0] >= 199 and (tmp_path / "out" / "samples.pdf").read_bytes().startswith(b"%PDF")


def test_each_backbone_of_a_dataset_gets_its_own_panel(tmp_path):
    """Rows from two backbones of one dataset are not one comparison: the GPU-made Fashion-MNIST backbone's
    teacher must not sit above the CPU backbone's students (the figure of 2026-12-05 mixed them)."""
    from harness.report.tables.samples import panel_title

    records = [run_record(1, "gan_only", case=5, seed=0, budget_kimg=20.0),
               run_record(2, "gan_only", case=5, seed=0, budget_kimg=20.0),
               run_record(3, "teacher", case=5, seed=0)]
    records[1]["backbone"]["name"] = "edm-other-backbone"
    results = write_records(tmp_path / "results", records)
    for i, record in enumerate(records):
        save_grid(seed_images(0, i), results / record["run_id"] / "samples.png", grid=4, title="t")
    rows, _ = rows_of(context(results))
    first = records[0]["backbone"]["name"]
    assert sorted(rows) == sorted([("digits", first), ("digits", "edm-other-backbone")])
    assert [r.run.method for r in rows[("digits", first)]] == ["gan_only", "teacher"]
    assert [r.run.method for r in rows[("digits", "edm-other-backbone")]] == ["gan_only"]
    assert panel_title(("digits", "edm-other-backbone"), rows).endswith("backbone edm-other-backbone")
    single = {("digits", first): rows[("digits", first)]}
    assert "backbone" not in panel_title(("digits", first), single)  # one backbone: the dataset says enough


def test_no_text_leaves_the_figure_or_runs_into_another_panel(tmp_path):
    """Long method and backbone names, and a one-row panel between two others: every row name, title and
    header stays inside the figure, and no panel's text overlaps another panel (the figure of 2026-12-06
    cut 'DMD2-style (with its GAN term, …)' on the left and ran a title past the right edge)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from harness.report.plots import STYLE
    from harness.report.tables.samples import drawer

    records = [run_record(1, "gan_only", case=5, seed=0, budget_kimg=20.0),
               run_record(2, "gan_only", case=5, seed=0, budget_kimg=20.0),
               run_record(3, "teacher", case=5, seed=0),
               run_record(4, "dmd", case=5, seed=0, budget_kimg=20.0)]
    records[1]["backbone"]["name"] = "edm-fashion-mnist-32x32-uncond-small-200kimg-with-a-long-name"
    records[3]["method_info"] = {**records[3].get("method_info", {}), "init": "deliberately long-named random"}
    results = write_records(tmp_path / "results", records)
    for i, record in enumerate(records):
        save_grid(seed_images(0, i), results / record["run_id"] / "samples.png", grid=4, title="t")
    rows, _ = rows_of(context(results))
    assert any(len(row.label.splitlines()[0]) > 40 for panel in rows.values() for row in panel)
    draw, size = drawer(rows, "")
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=size)
        canvas = FigureCanvasAgg(figure)
        draw(figure)
        canvas.draw()
        renderer = canvas.get_renderer()
        page = figure.bbox
        boxes = []
        for ax in figure.axes:
            texts = [ax.title, *ax.texts, *ax.get_yticklabels(), *ax.get_xticklabels(), ax.xaxis.label]
            extents = [t.get_window_extent(renderer) for t in texts if t.get_text()]
            for box in extents:
                assert page.x0 - 0.5 <= box.x0 and box.x1 <= page.x1 + 0.5 and page.y0 - 0.5 <= box.y0 \
                    and box.y1 <= page.y1 + 0.5, (box, page)
            boxes.append((ax, extents))
        for ax, extents in boxes:
            for other, _ in boxes:
                if other is not ax:
                    assert not any(box.overlaps(other.get_window_extent(renderer)) for box in extents)
