"""Figure helpers: panel grids leave no empty cell, point labels neither overlap nor leave their axes,
wide value ranges get a log axis, and PNGs are written at print resolution."""

from __future__ import annotations

from PIL import Image

from harness.report.plots import STYLE, log_y_if_wide, panel_grid, place_labels, save_png


def new_figure(size=(12.6, 7.0)):
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=size)
        FigureCanvasAgg(figure)
    return figure


def test_a_short_last_row_is_stretched_to_the_full_width():
    figure = new_figure()
    axes = panel_grid(figure, 5)
    assert len(figure.axes) == 5  # no hidden sixth cell
    top, bottom = [ax.get_position() for ax in axes[:3]], [ax.get_position() for ax in axes[3:]]
    assert abs(bottom[0].x0 - top[0].x0) < 1e-9 and abs(bottom[-1].x1 - top[-1].x1) < 1e-9
    assert bottom[0].width > 1.4 * top[0].width


def test_crowded_point_labels_neither_overlap_nor_leave_the_axes():
    figure = new_figure((4.2, 3.2))
    ax = figure.add_subplot()
    points = [(6e6, 1.2, "D2O-F"), (6e6, 1.4, "D2O"), (6.2e6, 1.3, "D2O (README)"), (5e7, 1.5, "DMD2"),
              (6e7, 1.6, "CTM"), (3e9, 16.0, "PD"), (2.9e9, 15.5, "progressive")]
    ax.plot([x for x, _, _ in points], [y for _, y, _ in points], "o")
    ax.set_xscale("log")
    place_labels(ax, points)
    renderer = figure.canvas.get_renderer()
    boxes = [text.get_window_extent(renderer) for text in ax.texts]
    frame = ax.get_window_extent(renderer)
    assert len(boxes) == len(points)
    for i, box in enumerate(boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, ax.texts[i]
        for other in boxes[:i]:
            assert not box.overlaps(other), (ax.texts[i].get_text(), boxes.index(other))


def test_log_y_only_where_a_linear_axis_would_flatten_the_values():
    figure = new_figure()
    wide, narrow = figure.add_subplot(121), figure.add_subplot(122)
    assert log_y_if_wide(wide, [20.0, 50.0, 1400.0]) and wide.get_yscale() == "log"
    assert not log_y_if_wide(narrow, [80.0, 160.0, 370.0]) and narrow.get_yscale() == "linear"


def test_png_is_written_at_print_resolution(tmp_path):
    save_png(lambda figure: figure.add_subplot().plot([0, 1]), (2.0, 1.0), tmp_path / "f.png")
    picture = Image.open(tmp_path / "f.png")
    assert picture.size == (400, 200) and round(picture.info["dpi"][0]) >= 200


def test_past_ten_labels_no_two_lines_of_a_figure_look_alike():
    """The palette has ten colours; the curves figure holds ~20 methods and variants, so from the
    eleventh label on the marker changes too (two blue lines read as one method before)."""
    from harness.report.tables.curves import Line, LinePoint, Panel, drawer

    labels = [f"method {i:02d}" for i in range(23)]
    lines = [Line(label, label, 1.0, False, [LinePoint(k, 1000 * k, [10.0 + i, 11.0 + i]) for k in (1, 2)], 2)
             for i, label in enumerate(labels)]
    draw, size = drawer([Panel("panel", "digits", None, lines)])
    figure = new_figure(size)
    draw(figure)
    drawn = {line.get_label(): (line.get_color(), line.get_marker())
             for ax in figure.axes for line in ax.get_lines() if line.get_label() in labels}
    assert sorted(drawn) == labels and len(set(drawn.values())) == len(labels), drawn


def drawn_styles(draw, size) -> dict[str, tuple[str, str]]:
    """Each drawn label's (colour, marker), in the order of the figure's legend."""
    figure = new_figure(size)
    draw(figure)
    styles = {line.get_label().removeprefix("reproduced: "): (line.get_color(), line.get_marker())
              for ax in figure.axes for line in ax.get_lines() if not line.get_label().startswith("_")}
    legend = [text.get_text().removeprefix("reproduced: ") for text in figure.legends[0].get_texts()]
    assert sorted(legend) == sorted(styles)
    return {label: styles[label] for label in legend}


def test_a_method_has_one_colour_in_every_figure_and_its_variants_another_marker():
    """Colours followed the sorted labels of each figure, so D2O was red in the curves and orange in
    Figure 1A; now a method owns its colour (names.COLOUR_FAMILIES) whatever else a figure shows."""
    from harness.report.tables import curves, figure_1a

    def line(label):
        return curves.Line(label, "m", 1.0, False, [curves.LinePoint(k, 1000 * k, [10.0, 11.0]) for k in (1, 2)], 1)

    curve_labels = ["D2O (2 kimg run)", "D2O (20 kimg run)", "CD (pseudo-Huber)", "CD (L2)", "zeta method"]
    in_curves = drawn_styles(*curves.drawer([curves.Panel("p", "digits", None, [line(x) for x in curve_labels])]))
    points = [figure_1a.Point(label, "m", 1.0, 1000.0 * (i + 1), 10.0 + i, None, [])
              for i, label in enumerate(["PD", "D2O", "D2O-F (level 2)"])]
    in_figure_1a = drawn_styles(*figure_1a.drawer([figure_1a.Panel("p", "digits", None, points=points)]))

    assert in_curves["D2O (2 kimg run)"][0] == in_curves["D2O (20 kimg run)"][0] == in_figure_1a["D2O"][0]
    assert in_curves["D2O (2 kimg run)"][1] != in_curves["D2O (20 kimg run)"][1]
    assert in_curves["CD (pseudo-Huber)"][0] == in_curves["CD (L2)"][0]
    colours = {"D2O": in_figure_1a["D2O"][0], "PD": in_figure_1a["PD"][0], "CD": in_curves["CD (L2)"][0],
               "level 2": in_figure_1a["D2O-F (level 2)"][0], "other": in_curves["zeta method"][0]}
    assert len(set(colours.values())) == len(colours), colours
    assert len(set(in_curves.values())) == len(in_curves)
    # The legend keeps a method's lines together, in names.COLOUR_FAMILIES order, others after them.
    assert list(in_curves) == ["D2O (2 kimg run)", "D2O (20 kimg run)", "CD (L2)", "CD (pseudo-Huber)", "zeta method"]
    assert list(in_figure_1a) == ["D2O", "D2O-F (level 2)", "PD"]
