"""Seed lists in EDM generate.py's syntax (harness/seed_ranges.py)."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.seed_ranges import format_seeds, parse_seeds


def test_ranges_and_lists_parse_as_edm_does() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("1,5,10-12") == [1, 5, 10, 11, 12]
    assert parse_seeds(" 7 ") == [7]
    assert format_seeds(parse_seeds("1,5,10-12,13")) == "1,5,10-13"


@pytest.mark.parametrize("text, message", [
    ("5-3", "ends before it starts"), ("a", "is not a seed"), ("1,,2", "is not a seed"), ("-1", "is not a seed"),
    ("1,3,1", "seed 1 is named twice"), ("0-3,2", "seed 2 is named twice"), (str(2**63), "above the largest seed"),
    ("0-99999999999", "more than 10,000,000 seeds"),
])
def test_bad_seed_lists_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_seeds(text)
