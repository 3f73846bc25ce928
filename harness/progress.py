"""Rich progress bars with images/s and ETA for every loop that can take more than a few seconds."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text


class ImagesPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} img/s" if speed else "- img/s", style="progress.data.speed")


# A label every progress line starts with, set by ``labelled_lines``; None: bars on a terminal.
_LINE_LABEL: list = [None]


@contextlib.contextmanager
def labelled_lines(label: str) -> Iterator[None]:
    """Within this block every bar and phase reports as plain lines that begin with ``label``, even on
    a terminal: processes that report side by side (``bench verify``'s re-runs) would otherwise draw
    bars over each other and leave lines nobody can attribute."""
    before = _LINE_LABEL[0]
    _LINE_LABEL[0] = label
    try:
        yield
    finally:
        _LINE_LABEL[0] = before


def _labelled(description: str) -> str:
    return description if _LINE_LABEL[0] is None else f"{_LINE_LABEL[0]}: {description}"


def _bars(console: Console) -> bool:
    """Whether to draw redrawn bars: on a terminal, unless lines were asked for (``labelled_lines``)."""
    return console.is_terminal and _LINE_LABEL[0] is None


def _line(console: Console, text: str) -> None:
    """One plain progress line: no markup or highlighting, and never wrapped (one line in a log)."""
    console.print(text, highlight=False, markup=False, soft_wrap=True)


class LineSchedule:
    """When a log gets its next progress line: at each tenth of ``total`` passed (each ``every`` when the
    total is unknown), and at every advance from the total on. ``first_now``: the first advance prints."""

    def __init__(self, total: float, every: float = 16e6, first_now: bool = False):
        self.total, self.every = total, total / 10 if total > 0 else every
        self.next = 0.0 if first_now else self.every

    def due(self, done: float) -> bool:
        if done < self.next and not 0 < self.total <= done:
            return False
        while self.next <= done:
            self.next += self.every
        return True


def _rate_and_eta(done: float, total: float, seconds: float) -> tuple[float, float]:
    rate = done / seconds if seconds > 0 else 0.0
    return rate, (max(0.0, total - done) / rate if rate > 0 else float("nan"))  # budgets end past a batch


@contextlib.contextmanager
def image_progress(description: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n_images)``; draws nothing when disabled, and prints a line per 10% when stderr
    is not a terminal (or within ``labelled_lines``)."""
    console = Console(stderr=True)
    if not enabled:
        yield lambda n: None
        return
    if not _bars(console):  # logs: one plain line per 10%, not a redrawn bar
        yield plain_progress(_labelled(description), total, console)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), ImagesPerSecond(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def plain_progress(description: str, total: int, console: Console) -> Callable[[int], None]:
    import time

    schedule, state = LineSchedule(total), {"done": 0, "start": time.perf_counter()}

    def advance(n: int) -> None:
        state["done"] += n
        if schedule.due(state["done"]):
            rate, eta = _rate_and_eta(state["done"], total, time.perf_counter() - state["start"])
            _line(console, f"{description}: {state['done']:,}/{total:,} images, {rate:,.0f} img/s, ETA {eta:,.0f} s")

    return advance


@contextlib.contextmanager
def transfer_progress(description: str, total_bytes: int) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n_bytes)`` for a download, on stderr (stdout holds a command's results): a bar on a
    terminal, else a line per 10% (per 16 MB when the server gives no size), so a log is never silent
    for the minutes a large checkpoint takes."""
    import time

    from rich.progress import DownloadColumn, TransferSpeedColumn

    console = Console(stderr=True)
    if _bars(console):
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task(description, total=total_bytes or None)
            yield lambda n: progress.advance(task, n)
        return
    schedule, state = LineSchedule(total_bytes, every=16e6), {"done": 0, "start": time.perf_counter()}

    def advance(n: int) -> None:
        state["done"] += n
        if schedule.due(state["done"]):
            rate, _ = _rate_and_eta(state["done"] / 1e6, 0.0, time.perf_counter() - state["start"])
            size = f" of {total_bytes / 1e6:,.1f}" if total_bytes > 0 else ""
            _line(console, f"{_labelled(description)}: {state['done'] / 1e6:,.1f}{size} MB, {rate:,.1f} MB/s")

    yield advance


# Phases inside a measurement (real-feature extraction, k-NN radii, coverage) report only when a
# command asked for progress (``phases_shown``) and only once they have run for ``PHASE_DELAY``
# seconds: a phase that ends sooner stays silent, one that runs longer is never silent for more.
PHASE_DELAY = 2.0
_PHASES_SHOWN: list = [False]  # False | "auto" (a bar on a terminal, else lines) | "plain" (lines)


def phases_on() -> bool:
    """Whether the command running asked for progress (``phases_shown``): loops outside a measurement,
    e.g. an analysis sampling its teacher, follow it too."""
    return bool(_PHASES_SHOWN[0])


@contextlib.contextmanager
def phases_shown(enabled: bool, plain: bool = False) -> Iterator[None]:
    """Within this block, ``phase_progress`` reports (the commands turn it on unless --quiet);
    ``plain``: as lines even on a terminal (inside another bar, e.g. a curve point during training)."""
    before = _PHASES_SHOWN[0]
    _PHASES_SHOWN[0] = ("plain" if plain else "auto") if enabled else False
    try:
        yield
    finally:
        _PHASES_SHOWN[0] = before


@contextlib.contextmanager
def phase_progress(description: str, total: int, unit: str = "images") -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``; from ``PHASE_DELAY`` seconds on, a bar (terminal) or a line per 10% (logs)."""
    import time

    if not _PHASES_SHOWN[0] or total <= 0:
        yield lambda n: None
        return
    console = Console(stderr=True)
    start = time.perf_counter()
    state: dict = {"done": 0, "shown": None}
    schedule = LineSchedule(total, first_now=True)
    progress = None

    def advance(n: int) -> None:
        nonlocal progress
        state["done"] += n
        seconds = time.perf_counter() - start
        if state["shown"] is None:
            if seconds < PHASE_DELAY or state["done"] >= total:
                return
            if _bars(console) and _PHASES_SHOWN[0] != "plain":
                progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                    TextColumn(unit), TextColumn("ETA"), TimeRemainingColumn(), console=console)
                progress.start()
                state["shown"] = progress.add_task(description, total=total, completed=state["done"])
                return
            state["shown"] = "plain"
        if state["shown"] == "plain":
            if schedule.due(state["done"]):
                _, eta = _rate_and_eta(state["done"], total, seconds)
                _line(console, f"{_labelled(description)}: {state['done']:,}/{total:,} {unit}, {seconds:,.0f} s, "
                               f"ETA {eta:,.0f} s")
        else:
            progress.update(state["shown"], completed=state["done"])

    try:
        yield advance
    finally:
        if progress is not None:
            progress.stop()
