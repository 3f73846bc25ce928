"""Seed lists as EDM's ``generate.py`` takes them: ``0-49999``, ``1,5,10-19`` (NVlabs/edm, its
``parse_int_list``: comma-separated items, each a whole number or an inclusive range ``a-b``).

Unlike a plain parse, a list that names a seed twice is refused: two images would share one file.
"""

from __future__ import annotations

import re

from harness.errors import UsageError

MAX_SEED = 2**63 - 1
MAX_COUNT = 10_000_000  # 200 FID sets of 50,000; a longer list is a typo, refused before it fills memory
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_SINGLE = re.compile(r"^\s*(\d+)\s*$")


def parse_int_list(text: str, flag: str, noun: str = "seed", example: str = "0-49999",
                   maximum: int = MAX_SEED) -> list[int]:
    """``text`` as whole numbers in the order written (repeats kept); a one-line UsageError naming
    ``flag`` when an item is neither a number nor an ascending range, a number exceeds ``maximum``
    or the list would be longer than ``MAX_COUNT`` (all checked before a range is expanded)."""
    spans: list[tuple[int, int]] = []
    for item in str(text).split(","):
        if match := _RANGE.match(item) or _SINGLE.match(item):
            first, last = int(match.group(1)), int(match.group(match.lastindex))
            if last < first:
                raise UsageError(f"{flag} {text}: range '{item.strip()}' ends before it starts")
            if last > maximum:
                raise UsageError(f"{flag} {text}: {last} is above the largest {noun}, {maximum}")
            spans.append((first, last))
        else:
            raise UsageError(f"{flag} {text}: '{item.strip()}' is not a {noun} or a range like {example} "
                             f"(EDM's syntax: 1,5,10-19)")
    if sum(last - first + 1 for first, last in spans) > MAX_COUNT:
        raise UsageError(f"{flag} {text}: more than {MAX_COUNT:,} {noun}s")
    return [number for first, last in spans for number in range(first, last + 1)]


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """``text`` as a list of seeds in the order written; a one-line UsageError when it does not parse."""
    seeds = parse_int_list(text, flag)
    if len(set(seeds)) != len(seeds):
        seen: set[int] = set()
        twice = next(s for s in seeds if s in seen or seen.add(s))
        raise UsageError(f"{flag} {text}: seed {twice} is named twice")
    return seeds


def format_seeds(seeds: list[int]) -> str:
    """The shortest EDM-syntax text for ``seeds`` (consecutive runs as ranges)."""
    parts, start = [], None
    for i, seed in enumerate(seeds):
        if start is None:
            start = seed
        if i + 1 == len(seeds) or seeds[i + 1] != seed + 1:
            parts.append(f"{start}" if start == seed else f"{start}-{seed}")
            start = None
    return ",".join(parts)
