"""The published numbers (baselines/published.json) as typed, validated objects.

The data lives in a JSON file beside the methods so that reading it never imports a method (and so
never torch): `bench report` stays fast. Every entry must name a known source; a broken file is an
error at load time, not a silently missing number in a table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from harness.errors import BenchError

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "baselines" / "published.json"
HANDS = ("first-hand", "second-hand")


@dataclass(frozen=True)
class Source:
    """A document numbers are taken from: a paper (title, arXiv id), the authors' README, or a count."""

    id: str
    title: str
    kind: str
    arxiv: str | None = None

    def cite(self) -> str:
        return f"{self.title}, arXiv {self.arxiv}" if self.arxiv else self.title


@dataclass(frozen=True)
class Published:
    """One published number (or range) and where it comes from; see the file's "about"."""

    id: str
    quantity: str  # fid | frozen_share | parameters | figure-1a
    dataset: str  # report dataset key (cifar10-uncond, ...) or an architecture key (frozen shares)
    method: str  # the paper's name for it
    source: str
    where: str
    hand: str
    status: str = "reported"
    harness_method: str | None = None
    value: str | None = None
    low: str | None = None
    high: str | None = None
    nfe: int | None = None
    train_images: int | None = None
    train_images_low: int | None = None
    train_images_high: int | None = None
    level: int | None = None
    primary: str | None = None
    backbone: str | None = None  # the backbone a number belongs to where a dataset has several (EDM's VE / VP)
    # The settings a run must have for this number to stand beside it ((key, value) pairs: method config keys,
    # ``train.<key>`` for runner settings); () = any run of ``harness_method``.
    recipe: tuple[tuple[str, object], ...] = ()
    note: str = ""

    def recipe_matches(self, settings: dict) -> bool:
        """True when a run with these settings (``Run.settings``) follows this number's recipe."""
        return all(key in settings and settings[key] == value for key, value in self.recipe)

    @property
    def number(self) -> float | None:
        return float(self.value) if self.value is not None else None

    def shown(self) -> str:
        """The published text: the value, a range 'low-high', or '?' where the source gives none."""
        if self.value is not None:
            return self.value
        if self.low is not None and self.high is not None:
            return f"{self.low}-{self.high}"
        return "?"

    def is_readme(self) -> bool:
        return self.id.endswith("/readme")


@dataclass(frozen=True)
class PublishedData:
    sources: dict[str, Source]
    entries: tuple[Published, ...]
    architecture_of_backbone: dict[str, str]
    architecture_names: dict[str, str]

    def select(self, quantity: str, dataset: str | None = None) -> list[Published]:
        """Entries of one quantity in file order, optionally of one dataset or architecture."""
        return [e for e in self.entries if e.quantity == quantity and (dataset is None or e.dataset == dataset)]

    def cite(self, entry: Published) -> str:
        """A one-line citation: source, place in it, hand, original paper, note."""
        parts = [self.sources[entry.source].cite(), entry.where, entry.hand]
        if entry.primary:
            parts.append(f"original: {self.sources[entry.primary].cite()}")
        if entry.note:
            parts.append(entry.note)
        return "; ".join(parts)


def run_settings(record: dict) -> tuple[tuple[str, object], ...]:
    """A run record's recipe for ``Published.recipe_matches``: its method config and ``train.<key>`` runner
    settings, as sorted (key, value) pairs of scalars."""
    config = record.get("config") or {}
    pairs = dict((config.get("method_config") or {}).items())
    pairs.update({f"train.{k}": v for k, v in (config.get("train") or {}).items()})
    return tuple(sorted((k, v) for k, v in pairs.items() if v is None or isinstance(v, (str, int, float, bool))))


def load_published(path: Path = DEFAULT_PATH) -> PublishedData:
    """Read and check the data file: unique ids, known sources, known fields, a number or a range."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: cannot read the published numbers ({exc.__class__.__name__}: {exc})") from None
    sources = {s["id"]: Source(**s) for s in raw["sources"]}
    known = {f.name for f in fields(Published)}
    entries = []
    for item in raw["entries"]:
        unknown = set(item) - known
        if unknown:
            raise BenchError(f"{path}: entry {item.get('id')} has unknown fields {sorted(unknown)}")
        if not isinstance(item.get("recipe", {}), dict):
            raise BenchError(f"{path}: entry {item.get('id')}: recipe must be an object of settings")
        item = {**item, "recipe": tuple(sorted(item.get("recipe", {}).items()))}
        entries.append(Published(**item))
    check_entries(entries, sources, path)
    return PublishedData(sources, tuple(entries), dict(raw["architecture_of_backbone"]), dict(raw["architecture_names"]))


def check_entries(entries: list[Published], sources: dict[str, Source], path: Path) -> None:
    """A number without a traceable source is worse than no number: refuse the file."""
    seen = set()
    for e in entries:
        if e.id in seen:
            raise BenchError(f"{path}: duplicate entry id {e.id}")
        seen.add(e.id)
        if e.source not in sources or (e.primary and e.primary not in sources):
            raise BenchError(f"{path}: entry {e.id} names an unknown source")
        if e.hand not in HANDS or e.status != "reported" or not e.where:
            raise BenchError(f"{path}: entry {e.id} needs where, hand ({'/'.join(HANDS)}) and status 'reported'")
        if e.value is not None:
            float(e.value)
