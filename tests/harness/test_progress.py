"""Progress of the phases inside a measurement (harness/progress.py): silent when quick or turned
off, a line per 10% in logs once a phase has run for PHASE_DELAY seconds."""

from __future__ import annotations

import torch

from harness import progress
from harness.metrics.feature_cache import extract_all


def run_phase(total: int, steps: int) -> None:
    with progress.phase_progress("phase", total, "rows") as advance:
        for _ in range(steps):
            advance(total // steps)


def test_a_long_phase_reports_and_a_quick_or_unwanted_one_does_not(monkeypatch, capsys) -> None:
    monkeypatch.setattr(progress, "PHASE_DELAY", 0.0)  # every phase counts as long
    with progress.phases_shown(True):
        run_phase(100, 10)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("phase: 10/100 rows") and lines[-1].startswith("phase: 100/100 rows, ")
    assert len(lines) == 10 and all("ETA" in line for line in lines)
    with progress.phases_shown(False):  # --quiet, or a library call
        run_phase(100, 10)
    monkeypatch.setattr(progress, "PHASE_DELAY", 60.0)
    with progress.phases_shown(True):  # over before the delay: nothing to say
        run_phase(100, 10)
    assert capsys.readouterr().err == ""


class Net:
    name, batch_size = "net", 3

    def __init__(self):
        self.batches = []

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        out = []
        for start in range(0, images.shape[0], self.batch_size):
            self.batches.append(images[start:start + self.batch_size].shape[0])
            out.append(images[start:start + self.batch_size].flatten(1).sum(1, keepdim=True))
        return torch.cat(out)


def test_extraction_in_chunks_feeds_the_network_the_same_batches(monkeypatch) -> None:
    images = torch.randn(100, 1, 2, 2)
    whole, chunked = Net(), Net()
    expected = whole(images)
    monkeypatch.setattr(progress, "PHASE_DELAY", 0.0)
    with progress.phases_shown(True):
        got = extract_all(chunked, images, "features")
    assert torch.equal(got, expected) and chunked.batches == whole.batches


def test_dict_outputs_are_joined_chunk_by_chunk(monkeypatch) -> None:
    images = torch.randn(100, 1, 2, 2)
    net = Net()

    def both(x: torch.Tensor) -> dict:
        return {"features": net(x), "logits": x.flatten(1)}

    got = extract_all(net, images, "features", fn=both)
    assert torch.equal(got["features"], Net()(images)) and torch.equal(got["logits"], images.flatten(1))


def test_inside_another_bar_phases_print_lines_even_on_a_terminal(monkeypatch, capsys) -> None:
    """A curve point measured during training (its bar live) must not start a second bar."""
    from rich.console import Console

    monkeypatch.setattr(progress, "PHASE_DELAY", 0.0)
    monkeypatch.setattr(progress, "Console", lambda stderr: Console(stderr=True, force_terminal=True, width=100))
    with progress.phases_shown(True, plain=True):
        run_phase(100, 10)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 10 and lines[-1].startswith("phase: 100/100 rows")
    with progress.phases_shown(True):  # the same terminal, no bar around: a bar of its own, not lines
        run_phase(100, 10)
    assert "phase: 10/100 rows" not in capsys.readouterr().err


def test_labelled_lines_name_their_process_even_on_a_terminal(monkeypatch, capsys) -> None:
    """`bench verify`'s re-runs share one terminal: bars would overwrite each other, so each reports
    in lines that begin with its label, training bars and measurement phases alike."""
    from rich.console import Console

    monkeypatch.setattr(progress, "PHASE_DELAY", 0.0)
    monkeypatch.setattr(progress, "Console", lambda stderr: Console(stderr=True, force_terminal=True, width=100))
    with progress.labelled_lines("run-a"), progress.phases_shown(True):
        with progress.image_progress("training", 100) as advance:
            for _ in range(10):
                advance(10)
        run_phase(100, 10)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 20 and all(line.startswith("run-a: ") for line in lines)
    assert lines[0].startswith("run-a: training: 10/100 images") and lines[-1].startswith("run-a: phase: 100/100 rows")
    with progress.image_progress("training", 100) as advance:  # outside the block: a bar again
        advance(100)
    assert "run-a" not in capsys.readouterr().err


def test_decoding_an_image_folder_is_a_phase(monkeypatch, capsys, tmp_path) -> None:
    """`bench eval --samples DIR` and EDM's image folders (CIFAR-10: 50,000 PNGs) decode for tens of seconds:
    both readers report once it lasts, and stay silent without progress asked for."""
    import numpy as np
    from PIL import Image

    from harness.data.readers import read_edm_folder
    from harness.sample_files import load_image_folder

    for i in range(20):
        Image.fromarray(np.full((4, 4), i * 10, dtype=np.uint8)).save(tmp_path / f"{i:03d}.png")
    monkeypatch.setattr(progress, "PHASE_DELAY", 0.0)
    for read, what, done in ((read_edm_folder, "decoding 20 images of", "19/19 images"),  # the first sets the shape
                             (load_image_folder, "reading 20 images from", "20/20 files")):
        with progress.phases_shown(True):
            read(tmp_path)
        lines = capsys.readouterr().err.splitlines()
        assert lines and all(line.startswith(what) for line in lines) and f": {done}, " in lines[-1], lines
        with progress.phases_shown(False):
            read(tmp_path)
        assert capsys.readouterr().err == ""


def test_a_log_gets_a_line_per_tenth_passed_and_one_at_the_end() -> None:
    """The schedule all three plain reporters (images, downloads, phases) share."""
    tenths = progress.LineSchedule(100)
    assert [done for done in (5, 10, 15, 45, 46, 99, 100, 104) if tenths.due(done)] == [10, 45, 99, 100, 104]
    unknown = progress.LineSchedule(0, every=16e6)  # a download whose size the server did not give
    assert [mb for mb in (10, 16, 20, 50, 64) if unknown.due(mb * 1e6)] == [16, 50, 64]
    first = progress.LineSchedule(100, first_now=True)
    assert [done for done in (3, 8, 13, 20) if first.due(done)] == [3, 13, 20]
