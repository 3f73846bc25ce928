"""A pickle reader that builds containers and numpy arrays and nothing else (CIFAR-10's python
batches are pickles): every global a pickle names must be on the array-reconstruction list, so a
downloaded file can never run code while it loads.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zipfile
import zlib
from typing import Any

import numpy as np

from harness.errors import BenchError

_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, zipfile.BadZipFile, tarfile.TarError, KeyError, IndexError)


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a callable outside the allow-list; raised before anything is called."""


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol-2 pickles use for ``bytes``; latin-1 only."""
    normalised = encoding.lower().replace("-", "").replace("_", "") if isinstance(encoding, str) else None
    if normalised not in ("latin1", "latin", "l1", "iso88591") or not isinstance(text, str):
        raise RefusedGlobal(f"refuses _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _numpy_pickle_globals() -> dict[tuple[str, str], Any]:
    """The globals a pickled ndarray needs, under both numpy 1 (``numpy.core``) and 2 (``numpy._core``) names."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for module in ("numpy.core", "numpy._core"):
        allowed[(f"{module}.multiarray", "_reconstruct")] = multiarray._reconstruct
        if hasattr(numeric, "_frombuffer"):  # what protocol-5 pickles of arrays name
            allowed[(f"{module}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts/lists/bytes/ints and numpy arrays only.

    A pickle can call any importable function while it loads, so a downloaded batch file is never
    given to plain ``pickle.load``: every global it names must be on the array-reconstruction list.
    """

    def __init__(self, file: io.BufferedIOBase, allowed: dict[tuple[str, str], Any]):
        super().__init__(file, encoding="bytes")
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._allowed:
            raise RefusedGlobal(f"refuses global {module}.{name}")
        return self._allowed[(module, name)]


def load_array_pickle(data: bytes, where: str) -> Any:
    """Unpickle ``data`` (from ``where``) allowing nothing but containers and numpy arrays."""
    try:
        return _ArrayOnlyUnpickler(io.BytesIO(data), _numpy_pickle_globals()).load()
    except RefusedGlobal as exc:
        raise BenchError(f"{where}: not a CIFAR-10 python batch ({exc}); refusing to load it") from None
    except (*_READ_ERRORS, AttributeError, TypeError, pickle.PickleError) as exc:
        raise BenchError(f"{where}: truncated or corrupt pickle ({type(exc).__name__}: {exc})") from None
