"""A table spec: its name (the output files' stem), what it shows, and the function that builds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.report.inputs import ReportInputs
from harness.report.published import PublishedData
from harness.report.render import Document


@dataclass(frozen=True)
class Context:
    """Everything a table may read: the sorted records and the published numbers. Nothing global."""

    inputs: ReportInputs
    published: PublishedData


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    caption: str
    build: Callable[["TableSpec", Context], Document]

    def document(self, ctx: Context) -> Document:
        return self.build(self, ctx)
