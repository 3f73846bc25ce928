"""harness/checkpoint.py: a training state that is not one is refused in one line that says why."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from harness.checkpoint import load_state
from harness.errors import BenchError


def test_a_damaged_or_foreign_state_file_says_what_is_wrong(tmp_path) -> None:
    foreign = tmp_path / "generator.safetensors"  # tensors, but no training metadata
    save_file({"weight": torch.zeros(2)}, str(foreign), metadata={"format": "pt"})
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(foreign.read_bytes()[:20])
    for path, message in ((foreign, "not a training state of `bench run` (its metadata lacks 'meta')"),
                          (cut, "unreadable training state (SafetensorError: Error while deserializing header")):
        with pytest.raises(BenchError) as err:
            load_state(path)
        assert str(err.value).startswith(f"{path}: {message}") and "\n" not in str(err.value), str(err.value)
