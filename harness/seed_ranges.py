"""Seed lists as EDM's ``generate.py`` takes them: ``0-49999``, ``1,5,10-19`` (NVlabs/edm, its
``parse_int_list``: comma-separated items, each a whole number or an inclusive range ``a-b``).

Unlike a plain parse, a list that names a seed twice is refused: two images would share one file.
"""

from __future__ import annotations

import re

from harness.errors import UsageError

MAX_SEED = 2**63 - 1
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_SINGLE = re.compile(r"^\s*(\d+)\s*$")


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """``text`` as a list of seeds in the order written; a one-line UsageError when it does not parse."""
    seeds: list[int] = []
    for item in str(text).split(","):
        if match := _RANGE.match(item):
            first, last = int(match.group(1)), int(match.group(2))
            if last < first:
                raise UsageError(f"{flag} {text}: range '{item.strip()}' ends before it starts")
            seeds.extend(range(first, last + 1))
        elif match := _SINGLE.match(item):
            seeds.append(int(match.group(1)))
        else:
            raise UsageError(f"{flag} {text}: '{item.strip()}' is not a seed or a range like 0-49999 "
                             f"(EDM's syntax: 1,5,10-19)")
    if not seeds:
        raise UsageError(f"{flag}: no seeds given")
    if max(seeds) > MAX_SEED:
        raise UsageError(f"{flag} {text}: seeds must be below 2^63")
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
