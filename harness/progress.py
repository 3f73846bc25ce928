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


@contextlib.contextmanager
def image_progress(description: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n_images)``; draws nothing when disabled or when stderr is not a terminal."""
    console = Console(stderr=True)
    if not enabled:
        yield lambda n: None
        return
    if not console.is_terminal:  # logs: one plain line per 10% instead of a redrawn bar
        yield plain_progress(description, total, console)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), ImagesPerSecond(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def plain_progress(description: str, total: int, console: Console) -> Callable[[int], None]:
    import time

    state = {"done": 0, "next": total / 10, "start": time.perf_counter()}

    def advance(n: int) -> None:
        state["done"] += n
        if state["done"] >= state["next"] or state["done"] >= total:
            seconds = time.perf_counter() - state["start"]
            rate = state["done"] / seconds if seconds > 0 else 0.0
            eta = (total - state["done"]) / rate if rate > 0 else float("nan")
            console.print(f"{description}: {state['done']:,}/{total:,} images, {rate:,.0f} img/s, ETA {eta:,.0f} s")
            state["next"] += total / 10

    return advance
