"""harness/errors.py: what a one-line error says of the exception beneath it."""

from __future__ import annotations

import torch

from harness.errors import in_brief


def test_in_brief_says_what_load_state_dict_found_not_only_that_it_failed() -> None:
    try:
        torch.nn.Linear(2, 2).load_state_dict({"weight": torch.zeros(3, 2), "bias": torch.zeros(2)})
    except RuntimeError as exc:
        brief = in_brief(exc)
    assert brief.startswith("Error(s) in loading state_dict for Linear: size mismatch for weight") and "\n" not in brief
    assert in_brief(ValueError("first\nsecond")) == "first"  # a first line that says something stands alone
    assert in_brief(ValueError("")) == "ValueError" and len(in_brief(ValueError("x" * 500), 100)) == 100


def test_a_file_error_says_the_readers_reason_not_only_its_type(tmp_path) -> None:
    """records.read_json and the other readers of files a user hands in: 'not readable JSON
    (JSONDecodeError)' left the user to find where the file breaks."""
    import pytest

    from harness.errors import BenchError
    from harness.records import read_json

    broken = tmp_path / "record.json"
    broken.write_text('{"run_id": 5\n')
    with pytest.raises(BenchError) as err:
        read_json(broken)
    assert str(err.value) == f"{broken}: not readable JSON (JSONDecodeError: Expecting ',' delimiter: line 2 column 1 (char 13))"
