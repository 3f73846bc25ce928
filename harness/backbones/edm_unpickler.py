"""The restricted unpickler behind ``harness.backbones.edm_pickle``: it reads an NVIDIA EDM network
pickle into harmless stand-ins and never runs the pickle's code.

EDM pickles its networks through ``torch_utils.persistence`` (NVlabs/edm torch_utils/persistence.py):
every network object is a call of ``_reconstruct_persistent_obj(meta)`` whose ``meta`` carries the
class name, the instance state and the whole source text of the defining module. Here:

* ``find_class`` resolves only the globals listed in ``ALLOWED_GLOBALS``, each to a harness-owned
  stand-in or a checking function (``harness.safe_unpickling.SafeCall``). Any other global
  (``os.system``, ``builtins.eval``, ``training.networks.EDMPrecond`` ...) is refused with a
  ``BenchError`` naming it, before anything is called. No EDM module is ever imported.
* a persistent object becomes a ``PersistentObject`` (class name + state); ``module_src`` is dropped
  unread. ``ModuleDict``/``ModuleList``/``Sequential`` become ``Container`` stand-ins. Tensors are
  rebuilt from storages read with ``torch.load(weights_only=True)``.
* the file is hashed in the same pass (a 2 GB snapshot is read once).
"""

from __future__ import annotations

import hashlib
import io
import pickle
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.errors import BenchError
from harness.safe_unpickling import SafeCall

PERSISTENCE_VERSION = 6  # the only version EDM's own loader accepts (NVlabs/edm torch_utils/persistence.py)


# ---------------------------------------------------------------------------------------------
# Stand-ins for the objects the pickle describes
# ---------------------------------------------------------------------------------------------


class PersistentObject:
    """What ``_reconstruct_persistent_obj(meta)`` stands for: a class name and its instance state.

    Nothing is imported or executed; ``module_src`` is not kept.
    """

    __slots__ = ("class_name", "state")

    def __init__(self, class_name: str, state: dict):
        self.class_name = class_name
        self.state = state

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError(f"unexpected BUILD on the persistent object '{self.class_name}'")

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name!r})"


class Container:
    """Stand-in for a ``torch.nn`` container (EDM uses ``ModuleDict`` for ``enc`` and ``dec``)."""

    kind = "Container"
    state: dict

    def __new__(cls, *args: Any) -> "Container":  # NEWOBJ calls this with no arguments
        if args:
            raise pickle.UnpicklingError(f"{cls.kind} created with arguments")
        obj = super().__new__(cls)
        obj.state = {}
        return obj

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:  # (dict, slotstate=None)
            state = state[0]
        if not isinstance(state, Mapping):
            raise pickle.UnpicklingError(f"{self.kind} state is a {type(state).__name__}, expected a dict")
        self.state = dict(state)

    def __repr__(self) -> str:
        return f"{self.kind}()"


class ModuleDictStandIn(Container):
    kind = "ModuleDict"


class ModuleListStandIn(Container):
    kind = "ModuleList"


class SequentialStandIn(Container):
    kind = "Sequential"


CONTAINERS = (ModuleDictStandIn, ModuleListStandIn, SequentialStandIn)


# ---------------------------------------------------------------------------------------------
# Safe replacements for the functions the pickle calls
# ---------------------------------------------------------------------------------------------


def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    """Replaces ``torch_utils.persistence._reconstruct_persistent_obj``: records, never executes."""
    if not isinstance(meta, Mapping):
        raise pickle.UnpicklingError(f"persistent-object meta is a {type(meta).__name__}, expected a dict")
    if meta.get("type") != "class":
        raise pickle.UnpicklingError(f"persistent-object type {meta.get('type')!r} is not supported (expected 'class')")
    if meta.get("version") != PERSISTENCE_VERSION:
        raise pickle.UnpicklingError(f"persistence format version {meta.get('version')!r} is not supported "
                                     f"(EDM writes version {PERSISTENCE_VERSION})")
    class_name, state = meta.get("class_name"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(state, Mapping):
        raise pickle.UnpicklingError("persistent-object meta lacks a class_name string or a state dict")
    return PersistentObject(class_name, dict(state))  # meta['module_src'] is dropped, never read


def _load_storage(blob: Any) -> torch.storage.TypedStorage:
    """Replaces ``torch.storage._load_from_bytes`` (which calls ``torch.load(weights_only=False)``)."""
    if not isinstance(blob, (bytes, bytearray)):
        raise pickle.UnpicklingError(f"storage blob is a {type(blob).__name__}, expected bytes")
    storage = torch.load(io.BytesIO(bytes(blob)), map_location="cpu", weights_only=True)
    if not isinstance(storage, (torch.storage.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError(f"storage blob holds a {type(storage).__name__}, expected a storage")
    return storage


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list, torch.Size)) or not all(isinstance(v, int) for v in value):
        raise pickle.UnpicklingError(f"tensor {what} is {value!r}, expected a tuple of ints")
    return tuple(value)


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                       backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    """Replaces ``torch._utils._rebuild_tensor_v2``: a CPU tensor view of a storage, hooks ignored."""
    if isinstance(storage, torch.storage.TypedStorage):
        dtype, untyped = storage.dtype, storage._untyped_storage
    else:
        raise pickle.UnpicklingError(f"tensor storage is a {type(storage).__name__}, expected a typed storage")
    if not isinstance(storage_offset, int):
        raise pickle.UnpicklingError(f"tensor storage offset is {storage_offset!r}, expected an int")
    size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if len(size) != len(stride):
        raise pickle.UnpicklingError(f"tensor size {size} and stride {stride} differ in length")
    if storage_offset < 0 or any(v < 0 for v in size + stride):
        raise pickle.UnpicklingError(f"tensor offset/size/stride {storage_offset}/{size}/{stride} are negative")
    # Tensor.set_ does not bounds-check, so check here that the view stays inside its storage.
    needed = 0 if 0 in size else storage_offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    available = untyped.nbytes() // torch.empty((), dtype=dtype).element_size()
    if needed > available:
        raise pickle.UnpicklingError(f"tensor of size {size} needs {needed} elements, its storage has {available}")
    tensor = torch.empty((0,), dtype=dtype, device="cpu")
    try:
        tensor.set_(untyped, storage_offset, size, stride)
    except RuntimeError as exc:
        raise pickle.UnpicklingError(f"tensor does not fit its storage ({exc})") from None
    return tensor


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None, state: Any = None) -> torch.Tensor:
    """Replaces ``torch._utils._rebuild_parameter`` (and ``..._with_state``): the data tensor only."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError(f"parameter data is a {type(data).__name__}, expected a tensor")
    return data


def _numpy_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """Replaces ``numpy.dtype``: plain numeric types only (what NumPy scalars in EDM pickles use)."""
    if not isinstance(spec, str) or len(spec) > 8:
        raise pickle.UnpicklingError(f"numpy dtype {spec!r} is not a plain type code")
    dtype = np.dtype(spec, copy=True)  # a fresh object: the BUILD that follows must not touch numpy's singletons
    if dtype.kind not in "biufc" or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise pickle.UnpicklingError(f"numpy dtype {spec!r} is not numeric")
    return dtype


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """Replaces ``numpy.(_)core.multiarray.scalar``: decodes the bytes of a numeric NumPy scalar."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc" or dtype.hasobject:
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype!r} is not numeric")
    dtype = np.dtype(dtype.str)  # re-derived, whatever a BUILD did to the pickled dtype object
    if dtype.kind not in "biufc":
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype!r} is not numeric")
    if isinstance(data, str):  # protocol-2 pickles may carry the bytes as a latin-1 string
        data = data.encode("latin1")
    if not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError(f"numpy scalar data does not match dtype {dtype}")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


def _reconstructor(cls: Any, base: Any, state: Any) -> Container:
    """Replaces ``copyreg._reconstructor`` (protocol 0/1 objects): only the container stand-ins."""
    if cls not in CONTAINERS or base is not object or state is not None:
        raise pickle.UnpicklingError(f"copyreg._reconstructor called for {cls!r}, which is not a container")
    return cls()


def _latin1_encode(text: Any, encoding: Any = "latin1") -> bytes:
    """Replaces ``_codecs.encode``, which protocol-2 pickles use to write ``bytes``: latin-1 text only."""
    name = encoding.lower().replace("-", "").replace("_", "") if isinstance(encoding, str) else None
    if not isinstance(text, str) or name not in ("latin1", "latin", "l1", "iso88591"):
        raise pickle.UnpicklingError(f"_codecs.encode is only allowed for latin-1 text, got {encoding!r}")
    return text.encode("latin1")


def _set(items: Any = ()) -> set:
    """Replaces ``builtins.set`` (protocol < 4 writes sets as a call): hashable scalars only."""
    items = list(items)
    if not all(isinstance(item, (str, int, float, bool, type(None))) for item in items):
        raise pickle.UnpicklingError("set holds something other than plain scalars")
    return set(items)


# (module, name) -> the object the restricted unpickler returns. Nothing else is ever resolved.
# Functions are wrapped in SafeCall; classes are harness stand-ins or immutable built-in types.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): SafeCall(_reconstruct_persistent_obj),
    ("torch.nn.modules.container", "ModuleDict"): ModuleDictStandIn,
    ("torch.nn.modules.container", "ModuleList"): ModuleListStandIn,
    ("torch.nn.modules.container", "Sequential"): SequentialStandIn,
    ("torch._utils", "_rebuild_tensor_v2"): SafeCall(_rebuild_tensor_v2),
    ("torch._utils", "_rebuild_parameter"): SafeCall(_rebuild_parameter),
    ("torch._utils", "_rebuild_parameter_with_state"): SafeCall(_rebuild_parameter),
    ("torch.storage", "_load_from_bytes"): SafeCall(_load_storage),
    ("collections", "OrderedDict"): OrderedDict,
    ("numpy._core.multiarray", "scalar"): SafeCall(_numpy_scalar),
    ("numpy.core.multiarray", "scalar"): SafeCall(_numpy_scalar),
    ("numpy", "dtype"): SafeCall(_numpy_dtype),
    ("copyreg", "_reconstructor"): SafeCall(_reconstructor),
    ("copy_reg", "_reconstructor"): SafeCall(_reconstructor),
    ("builtins", "object"): object,
    ("__builtin__", "object"): object,
    ("builtins", "set"): SafeCall(_set),
    ("__builtin__", "set"): SafeCall(_set),
    ("_codecs", "encode"): SafeCall(_latin1_encode),
}


class RefusedGlobalError(BenchError):
    """The pickle asked for a global outside the allow-list; raised before anything is called."""

    def __init__(self, path: Path, module: str, name: str):
        self.global_name = f"{module}.{name}"
        super().__init__(f"{path}: refusing to load: the pickle asks for the global '{self.global_name}', which is "
                         f"not part of an EDM network pickle (only the classes of EDM networks are allowed); nothing was executed")


class SafeEDMUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` only knows ``ALLOWED_GLOBALS``."""

    def __init__(self, file: Any, path: Path):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise RefusedGlobalError(self.path, str(module), str(name)) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not used by EDM network pickles")


# ---------------------------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------------------------

_CORRUPT = (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            RuntimeError, OverflowError, MemoryError, RecursionError, UnicodeDecodeError)


class _HashingReader:
    """A read-only file wrapper that hashes every byte the unpickler reads (one pass over big files)."""

    def __init__(self, f: Any):
        self.f, self.sha256 = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.sha256.update(data)
        return data

    def readline(self) -> bytes:
        data = self.f.readline()
        self.sha256.update(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = self.f.readinto(buffer)
        self.sha256.update(memoryview(buffer)[:n])
        return n

    def hexdigest(self) -> str:
        """The hash of the whole file: what was read plus whatever follows the pickle's STOP."""
        for chunk in iter(lambda: self.f.read(1 << 20), b""):
            self.sha256.update(chunk)
        return self.sha256.hexdigest()


def read_edm_pickle(path: Path) -> tuple[Any, str]:
    """Unpickle ``path`` with the allow-list; returns the stand-ins (dicts, ``PersistentObject``,
    tensors) and the file's sha256."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"EDM pickle not found: {path}")
    with open(path, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    if is_zip:
        raise BenchError(f"{path}: is a zip archive (a torch.save file such as training-state-*.pt?), not an EDM "
                         f"network pickle; use a network-snapshot-*.pkl or edm-*.pkl")
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
            warnings.filterwarnings("ignore", message=".*pickle protocol.*weights_only.*")
            reader = _HashingReader(f)
            data = SafeEDMUnpickler(reader, path).load()
            return data, reader.hexdigest()
    except BenchError:
        raise
    except _CORRUPT as exc:
        detail = (str(exc).strip().splitlines() or [""])[0][:300]
        raise BenchError(f"{path}: not a readable EDM pickle (truncated or corrupt file?): "
                         f"{type(exc).__name__}: {detail}") from None
