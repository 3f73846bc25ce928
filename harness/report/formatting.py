"""How the report shows numbers: mean ± std over seeds, grouping, and compact counts."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and count of one group of values (one per run)."""

    mean: float
    std: float | None
    n: int

    def shown(self, digits: int = 3) -> str:
        if self.std is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def summarize(values: list[float]) -> Summary | None:
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else None
    return Summary(statistics.fmean(values), std, len(values))


def group_by(items: Iterable, key) -> dict:
    """Insertion-ordered groups (callers sort their keys before showing them)."""
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def fmt_count(value: float | None) -> str:
    """Image and pass counts as 5.12M / 1.3B: readable, exact numbers stay in the CSV."""
    if value is None:
        return "—"
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


# Groupings of report.inputs' Run objects (kept here so that inputs.py stays one concept: reading records).
def fd_values(runs: list["Run"]) -> dict["Measurement", list[float]]:
    """FD values of runs grouped by measurement, in sorted measurement order."""
    out: dict = {}
    for run in runs:
        for m, v in run.values:
            if m.is_fd():
                out.setdefault(m, []).append(v)
    return {m: out[m] for m in sorted(out)}


def kid_values(runs: list["Run"]) -> dict["Measurement", list[tuple[float, float | None]]]:
    """KID values of runs (each with its std over subsets, when recorded) by measurement, sorted."""
    out: dict = {}
    for run in runs:
        spreads = dict(run.spreads)
        for m, v in run.values:
            if m.name == "kid":
                out.setdefault(m, []).append((v, spreads.get(m)))
    return {m: out[m] for m in sorted(out)}


def kid_cell(pairs: list[tuple[float, float | None]]) -> str:
    """One run: KID ± its std over subsets (Bińkowski et al. 2018, arXiv 1801.01401, Sec. 4); several
    runs: mean ± std over the runs, then the mean std over subsets."""
    subset_stds = [s for _, s in pairs if s is not None]
    within = f" ± {statistics.fmean(subset_stds):.4f}" if subset_stds else ""
    if len(pairs) == 1:
        return f"{pairs[0][0]:.4f}{within}" + ("" if within else " (no subset std recorded)")
    stats = summarize([v for v, _ in pairs])
    return f"{stats.mean:.4f} ± {stats.std:.4f} over runs" + (f" (subsets{within})" if within else "")


KID_HEADER = "mean ± std over subsets"
KID_NOTE = ("KID (Bińkowski et al. 2018): unbiased MMD², cubic kernel, mean over 100 subsets; ± is the std over "
            "subsets of one run (the KID's own spread), or, for several runs, the std over runs followed by the "
            "mean std over subsets")


def runs_with(runs: list["Run"], m: "Measurement") -> list["Run"]:
    """The runs that measured ``m``."""
    return [r for r in runs if any(mm == m for mm, _ in r.values)]


def seeds_shown(runs: list) -> str:
    """Seed count, plus the run count when a seed was run more than once."""
    seeds = len({r.seed for r in runs})
    return str(seeds) if seeds == len(runs) else f"{seeds} ({len(runs)} runs)"


def provenance(runs: list) -> str:
    """Where a row's numbers come from: each run's record file (and curve point, for a snapshot row)."""
    names = sorted({r.name + (f" (curve point at {r.budget_kimg:g} kimg)" if "@" in r.run_id else "") for r in runs}
                   | {name for r in runs for name in getattr(r, "evaluations", ())})
    return f"from {len(names)} record{'s' if len(names) != 1 else ''}: " + "; ".join(names)
