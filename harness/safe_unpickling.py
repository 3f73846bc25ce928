"""The one building block the restricted unpicklers share (harness/backbones/edm_unpickler.py for EDM's
network pickles, harness/metrics/torchscript_archive.py for a TorchScript archive's data.pkl): a
function as the pickle sees it, callable but immune to BUILD, so a hostile pickle cannot set
attributes on the stand-ins it is allowed to call."""

from __future__ import annotations

import pickle
from typing import Any


class SafeCall:
    """A stand-in function: calls ``fn``; a BUILD (``__setstate__``) on it is refused."""

    __slots__ = ("fn",)

    def __init__(self, fn: Any):
        self.fn = fn

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError(f"unexpected BUILD on the global {getattr(self.fn, '__name__', '?')}")

    def __repr__(self) -> str:
        return f"<safe stand-in {getattr(self.fn, '__name__', '?')}>"
