"""Read the tensors of a TorchScript archive (``torch.jit.save`` output) without running any of it.

A TorchScript file is a zip: ``<root>/code/`` holds the model's source (TorchScript, which
``torch.jit.load`` compiles and runs), ``<root>/data.pkl`` the module tree as a pickle whose
classes are named ``__torch__.<module>.<Class>``, and ``<root>/data/<key>`` the raw bytes of each
tensor storage (PyTorch's serialization notes, pytorch/pytorch torch/csrc/jit/docs/serialization.md).
This reader never opens ``code/`` and never calls ``torch.jit.load``. Like the project's EDM pickle
loader (``harness.backbones.edm_pickle``), it unpickles ``data.pkl`` with an allow-list:

* a ``__torch__.*`` class becomes a ``ScriptObject`` record (class name + attribute dict); nothing
  is imported or executed, and any other global (``os.system``, ``builtins.eval`` ...) is refused
  before it is called;
* ``torch._utils._rebuild_tensor_v2`` becomes a bounds-checked strided view of a storage that was
  read as plain bytes from ``data/<key>`` (its dtype taken from the ``torch.<Type>Storage`` name);
* the only other globals are ``collections.OrderedDict``, the storage type names and
  ``torch.jit._pickle.build_{int,double,bool}list`` (list attributes, element types checked).

``read_tensors`` flattens the tree into ``{"net.layers.conv.weight": tensor, ...}`` in the pickle's
(module registration) order, with the scalar attributes (``stride``, ``padding`` ...) beside them.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.errors import BenchError, in_brief
from harness.safe_unpickling import SafeCall

# torch.<Name>Storage -> dtype: the storage names TorchScript archives use.
STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}
MAX_STORAGE_BYTES = 1 << 30  # one storage larger than 1 GiB is not a feature network


class ScriptObject:
    """A ``__torch__.*`` object of the archive: its class name and attributes, never its code."""

    __slots__ = ("class_name", "state")

    def __init__(self, class_name: str):
        self.class_name, self.state = class_name, {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"{self.class_name} state is a {type(state).__name__}, expected a dict")
        self.state = dict(state)

    def __repr__(self) -> str:
        return f"ScriptObject({self.class_name!r})"


def _script_class(class_name: str) -> type:
    """A stand-in class for ``__torch__.<...>``: NEWOBJ makes a record, BUILD fills its attributes."""

    def new(cls: type, *args: Any) -> ScriptObject:
        if args:
            raise pickle.UnpicklingError(f"{class_name} created with arguments")
        return ScriptObject(class_name)

    return type("ScriptClass", (), {"__new__": new})


@dataclass(frozen=True)
class StorageType:
    name: str
    dtype: torch.dtype


@dataclass
class ArchiveTensors:
    """What ``read_tensors`` returns: tensors and scalar attributes by dotted name, and class names."""

    tensors: "OrderedDict[str, torch.Tensor]" = field(default_factory=OrderedDict)
    scalars: dict[str, Any] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)  # module path -> class name


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                    hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    """A strided view of ``storage`` (a flat tensor), checked to stay inside it."""
    if not isinstance(storage, torch.Tensor) or storage.ndim != 1:
        raise pickle.UnpicklingError("tensor is not built on a storage of the archive")
    if not isinstance(offset, int) or not all(isinstance(v, (tuple, list)) for v in (size, stride)):
        raise pickle.UnpicklingError("tensor offset, size or stride is malformed")
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride) or not all(isinstance(v, int) and v >= 0 for v in (offset, *size, *stride)):
        raise pickle.UnpicklingError(f"tensor size {size} / stride {stride} / offset {offset} are malformed")
    needed = 0 if 0 in size else offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    if needed > storage.numel():
        raise pickle.UnpicklingError(f"tensor of size {size} needs {needed} elements, its storage has {storage.numel()}")
    return storage.as_strided(size, stride, offset)


def _typed_list(kind: type, what: str) -> SafeCall:
    """``torch.jit._pickle.build_<what>list``: a list attribute, its elements checked to be ``kind``."""

    def build(items: Any) -> list:
        if not isinstance(items, list) or not all(isinstance(v, kind) and isinstance(v, bool) == (kind is bool)
                                                  for v in items):
            raise pickle.UnpicklingError(f"{what} list attribute holds something else")
        return list(items)

    return SafeCall(build)


_LISTS = {"build_intlist": (int, "int"), "build_doublelist": (float, "float"), "build_boollist": (bool, "bool")}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, root: str, path: Path):
        super().__init__(file)
        self.archive, self.root, self.path = archive, root, path
        self.storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if isinstance(module, str) and (module == "__torch__" or module.startswith("__torch__.")):
            return _script_class(f"{module}.{name}")
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(name, STORAGE_DTYPES[name])
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return SafeCall(_rebuild_tensor)
        if module == "torch.jit._pickle" and name in _LISTS:
            return _typed_list(*_LISTS[name])
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        raise BenchError(f"{self.path}: refusing to read: its data.pkl asks for the global '{module}.{name}', "
                         f"which a TorchScript module's tensors never need; nothing was executed")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], StorageType)
                and isinstance(pid[2], str) and pid[2].isdigit() and isinstance(pid[4], int)):
            raise pickle.UnpicklingError(f"unsupported persistent id {str(pid)[:80]}")
        _, kind, key, _location, numel = pid
        if key not in self.storages:
            size = numel * torch.empty((), dtype=kind.dtype).element_size()
            if not 0 <= size <= MAX_STORAGE_BYTES:
                raise pickle.UnpicklingError(f"storage {key} claims {numel} elements")
            data = bytearray(self.archive.read(f"{self.root}/data/{key}"))  # KeyError if absent
            if len(data) != size:
                raise pickle.UnpicklingError(f"storage {key} holds {len(data)} bytes, expected {size}")
            self.storages[key] = torch.frombuffer(data, dtype=kind.dtype) if size else torch.empty(0, dtype=kind.dtype)
        return self.storages[key]


_CORRUPT = (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            RuntimeError, OverflowError, MemoryError, RecursionError, UnicodeDecodeError, zipfile.BadZipFile,
            NotImplementedError, OSError)


def _flatten(node: Any, prefix: str, out: ArchiveTensors, path: Path) -> None:
    if not isinstance(node, ScriptObject):
        raise BenchError(f"{path}: the archive's top level is a {type(node).__name__}, not a TorchScript module")
    out.classes[prefix] = node.class_name
    for key, value in node.state.items():
        if not isinstance(key, str):
            raise BenchError(f"{path}: attribute name {key!r} of {node.class_name} is not a string")
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, ScriptObject):
            _flatten(value, name, out, path)
        elif isinstance(value, torch.Tensor):
            out.tensors[name] = value.clone()  # owns its memory, detached from the archive's buffer
        elif value is None or isinstance(value, (bool, int, float, str)) or (
                isinstance(value, list) and all(isinstance(v, (bool, int, float)) for v in value)):
            out.scalars[name] = value
        else:
            raise BenchError(f"{path}: attribute {name} is a {type(value).__name__}, not a tensor, module or scalar")


def read_tensors(path: Path | str) -> ArchiveTensors:
    """The tensors and scalar attributes of the TorchScript module saved at ``path`` (see module doc)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise BenchError(f"{path}: not a TorchScript archive (no <root>/data.pkl in the zip)")
            root = pickles[0].split("/")[0]
            with archive.open(pickles[0]) as f:
                tree = _RestrictedUnpickler(f, archive, root, path).load()
    except BenchError:
        raise
    except _CORRUPT as exc:
        raise BenchError(f"{path}: not a readable TorchScript archive ({exc.__class__.__name__}: "
                         f"{in_brief(exc, 120, otherwise='truncated or damaged')})") from None
    out = ArchiveTensors()
    _flatten(tree, "", out, path)
    return out
