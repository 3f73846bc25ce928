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
def per_seed(pairs: Iterable[tuple[int, float]]) -> list[float]:
    """One value per seed, in seed order: the mean of a seed's values. The seed is the unit a ± spreads
    over; a seed measured twice at one budget (its run at that budget and a longer run's curve point,
    which for D2O are the same numbers) would otherwise count twice and shrink the std."""
    by_seed = group_by(sorted(pairs, key=lambda pair: pair[0]), key=lambda pair: pair[0])
    return [statistics.fmean(v for _, v in values) for values in by_seed.values()]


def seed_values(runs: list["Run"], m: "Measurement", attribute: str = "values") -> list[float]:
    """``m``'s values (``run.values`` or ``run.best``) of ``runs``, one per seed (``per_seed``)."""
    return per_seed((r.seed, v) for r in runs for mm, v in getattr(r, attribute) if mm == m)


def fd_values(runs: list["Run"]) -> dict["Measurement", list[float]]:
    """FD values of runs by measurement, one per seed (``per_seed``), in sorted measurement order."""
    found = sorted({m for run in runs for m, _ in run.values if m.is_fd()})
    return {m: seed_values(runs, m) for m in found}


def kid_values(runs: list["Run"]) -> dict["Measurement", list[tuple[float, float | None]]]:
    """KID values by measurement, sorted, one per seed (its mean, with the mean std over subsets where
    its runs recorded one)."""
    found = sorted({m for run in runs for m, _ in run.values if m.name == "kid"})
    out = {}
    for m in found:
        values = per_seed((r.seed, v) for r in runs for mm, v in r.values if mm == m)
        spreads = group_by(((r.seed, dict(r.spreads).get(m)) for r in runs if any(mm == m for mm, _ in r.values)),
                           key=lambda pair: pair[0])
        stds = [[s for _, s in spreads[seed] if s is not None] for seed in sorted(spreads)]
        out[m] = [(v, statistics.fmean(s) if s else None) for v, s in zip(values, stds)]
    return out


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
    """Seed count, plus the run count when a seed was measured more than once (its values are averaged
    first: ``per_seed``)."""
    seeds = len({r.seed for r in runs})
    return str(seeds) if seeds == len(runs) else f"{seeds} ({len(runs)} runs)"


REPEATED_SEEDS_NOTE = ("seeds \"3 (6 runs)\": a seed measured by two runs at this budget (its own run and a longer "
                       "run's curve point); a seed's values are averaged first, so ± is the std over seeds")


def seeds_note(rows: list[list[str]]) -> list[str]:
    """``REPEATED_SEEDS_NOTE`` where a shown seeds cell counts runs too (``seeds_shown``)."""
    return [REPEATED_SEEDS_NOTE] if any(cell.endswith(" runs)") for row in rows for cell in row) else []


def provenance(runs: list) -> str:
    """Where a row's numbers come from: each run's record file (and curve point, for a snapshot row)."""
    names = sorted({r.name + (f" (curve point at {r.budget_kimg:g} kimg)" if "@" in r.run_id else "") for r in runs}
                   | {name for r in runs for name in getattr(r, "evaluations", ())})
    return f"from {len(names)} record{'s' if len(names) != 1 else ''}: " + "; ".join(names)
