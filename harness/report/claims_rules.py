"""The decision rules of the claims table (tables/claims.md): when a measured difference counts.

Every comparison is between two groups of runs (one value per seed) measured the same way (one
``Measurement``: metric, feature network, implementation, sample count, reference). A group is
summarised as mean ± sample std over seeds (n). Two groups differ *clearly* when their ±1 std bars do
not overlap: a.mean + a.std < b.mean - b.std. Fewer than ``MIN_SEEDS`` values have no std, so such a
comparison decides nothing and the cell says "not measured" with the numbers it has.

Each claim reduces its comparisons to outcomes ("for", "against", "level") and ``verdict`` turns them
into one word: all "for": supported; some "against" and no "for": not supported; otherwise mixed; no
decisive comparison: not measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.report.formatting import Summary, summarize

MIN_SEEDS = 2
LOSES_LITTLE = 0.10  # claim 3: a frozen level "loses" only when clearly worse AND over 10% above D2O's mean
SUPPORTED, NOT_SUPPORTED, MIXED, NOT_MEASURED = "supported", "not supported", "mixed", "not measured"

# Compute per training image for claim 2 at equal compute, in forward passes of the backbone-sized network
# (a backward pass counted as two forwards, Kaplan et al. 2020, arXiv 2001.08361 §2.1), read off each method's
# train_step: D2O: G forward+backward for the G step, one G forward for the D step's fakes (2 fwd + 1 bwd = 4;
# the discriminator is not counted). PD: two teacher DDIM steps + student fwd+bwd (3 + 2 = 5). CD: Heun
# teacher step (2) + target (1) + student fwd+bwd (3 + 2 = 6). DMD2-style per iteration with the generator
# updated every k-th: fake-score fwd+bwd, a generator forward for its images, and every k-th the generator
# fwd+bwd with a real- and a fake-score forward: (2 + 2/k) fwd + (1 + 1/k) bwd = 4 + 4/k (k=5: 4.8).
FIXED_PASSES = {"gan_only": 4.0, "gan_only_frozen": 4.0, "progressive_distillation": 5.0,
                "consistency_distillation": 6.0}


def passes_per_image(method: str, settings: dict) -> float | None:
    """Backbone-sized forward-pass equivalents per training image (above); None for a method not modelled."""
    if method == "dmd":
        k = settings.get("fake_steps_per_generator_step", 5)
        return 4.0 + 4.0 / float(k) if isinstance(k, (int, float)) and k > 0 else None
    return FIXED_PASSES.get(method)


@dataclass(frozen=True)
class Group:
    """Values of one (method label, budget) in one measurement, one per seed."""

    label: str
    budget_kimg: float
    values: tuple[float, ...]

    @property
    def stats(self) -> Summary:
        return summarize(list(self.values))

    @property
    def decisive(self) -> bool:
        return len(self.values) >= MIN_SEEDS

    def shown(self) -> str:
        s = self.stats
        spread = f" ± {s.std:.3g}" if s.std is not None else ""
        return f"{self.label} {s.mean:.4g}{spread} (n={s.n})"


def clearly_lower(a: Summary, b: Summary) -> bool:
    """a's ±1 std bar lies wholly below b's (both need a std: n >= 2)."""
    return a.std is not None and b.std is not None and a.mean + a.std < b.mean - b.std


def lower_outcome(ours: Group, theirs: Group) -> str | None:
    """"for" when ours is clearly lower (better FD), "against" when clearly higher, "level" when the bars
    overlap; None when either side has fewer than MIN_SEEDS values."""
    if not (ours.decisive and theirs.decisive):
        return None
    if clearly_lower(ours.stats, theirs.stats):
        return "for"
    return "against" if clearly_lower(theirs.stats, ours.stats) else "level"


def loses_little_outcome(frozen: Group, full: Group) -> str | None:
    """Claim 3: "against" only when the frozen level is clearly worse and over LOSES_LITTLE above D2O."""
    if not (frozen.decisive and full.decisive):
        return None
    worse = clearly_lower(full.stats, frozen.stats) and frozen.stats.mean > full.stats.mean * (1 + LOSES_LITTLE)
    return "against" if worse else "for"


def verdict(outcomes: list[str | None]) -> str:
    decided = [o for o in outcomes if o is not None]
    if not decided:
        return NOT_MEASURED
    if all(o == "for" for o in decided):
        return SUPPORTED
    if "for" not in decided and "against" in decided:
        return NOT_SUPPORTED
    return MIXED
