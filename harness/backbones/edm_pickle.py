"""Load NVIDIA EDM network pickles (``edm-*.pkl``, ``network-snapshot-*.pkl``) without running their code.

EDM pickles its networks through ``torch_utils.persistence``: every network object is a call of
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, where ``meta`` carries the class
name, the instance state and the *entire source text* of the module that defined the class
(``module_src``). EDM's own loader executes that text. This loader never does (NVlabs/edm torch_utils/persistence.py):

* ``harness.backbones.edm_unpickler`` reads the file with a restricted ``pickle.Unpickler``: only the
  globals EDM's pickles name resolve, each to a harness-owned stand-in or a checking function; any
  other global is refused before anything is called. A network becomes a ``PersistentObject`` record
  (class name + state; ``module_src`` dropped unread), tensors come from ``torch.load(weights_only=True)``.
* the network is then rebuilt as the *harness's own* class (``harness.backbones.edm``) from the
  recorded ``_init_kwargs``, and the flattened state (same order as ``Module.state_dict()``) is
  loaded strictly. Scalar attributes recorded for every sub-module (``num_heads``, ``eps``,
  ``up``/``down``, ``skip_scale`` ...) are compared with the rebuilt network too, so settings that own
  no tensors cannot silently differ.

Top-level entry: a snapshot ``dict`` is read through its ``'ema'`` entry, the EMA network that
EDM's ``generate.py`` samples from (NVlabs/edm torch_utils/persistence.py); the other entries (``loss_fn``,
``augment_pipe``, ``dataset_kwargs``) are parsed under the same restrictions and ignored. A pickle
whose top level is a persistent network itself is accepted as that network.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.backbones.edm_unpickler import (ALLOWED_GLOBALS, Container, PersistentObject, RefusedGlobalError,
                                             SafeEDMUnpickler, read_edm_pickle)
from harness.errors import BenchError

SNAPSHOT_ENTRY = "ema"


def network_entry(data: Any, path: Path) -> PersistentObject:
    """The network in an unpickled file: a snapshot's ``'ema'`` entry, or a bare persistent network."""
    if isinstance(data, PersistentObject):
        return data
    if isinstance(data, Mapping):
        if SNAPSHOT_ENTRY not in data:
            raise BenchError(f"{path}: EDM snapshot has no '{SNAPSHOT_ENTRY}' network (keys: "
                             f"{', '.join(map(str, data)) or 'none'})")
        entry = data[SNAPSHOT_ENTRY]
        if not isinstance(entry, PersistentObject):
            raise BenchError(f"{path}: the '{SNAPSHOT_ENTRY}' entry is a {type(entry).__name__}, "
                             f"not an EDM persistent network")
        return entry
    raise BenchError(f"{path}: holds a {type(data).__name__}; expected an EDM snapshot dict or network")


def _module_fields(node: PersistentObject | Container, where: str, path: Path) -> tuple[Mapping, Mapping, set, Mapping]:
    state = node.state
    fields = []
    for key in ("_parameters", "_buffers", "_modules"):
        value = state.get(key, {})
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise BenchError(f"{path}: {where or 'the network'} has a {key} of type {type(value).__name__}")
        fields.append(value)
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    if not isinstance(non_persistent, (set, frozenset, list, tuple)):
        raise BenchError(f"{path}: {where or 'the network'} has a malformed _non_persistent_buffers_set")
    return fields[0], fields[1], set(non_persistent), fields[2]


def _checked_tensor(value: Any, key: str, path: Path) -> torch.Tensor:
    """A fresh CPU tensor over the same memory, after checking that the view lies inside its storage
    (a BUILD on a tensor could have re-pointed it; ``Tensor.set_`` itself checks no bounds)."""
    if not isinstance(value, torch.Tensor) or type(value) not in (torch.Tensor, torch.nn.Parameter):
        raise BenchError(f"{path}: '{key}' is a {type(value).__name__}, not a tensor")
    if value.device.type != "cpu" or value.is_sparse or value.layout != torch.strided:
        raise BenchError(f"{path}: '{key}' is not a dense CPU tensor")
    size, stride, offset = tuple(value.shape), tuple(value.stride()), value.storage_offset()
    needed = 0 if 0 in size else offset + 1 + sum((n - 1) * st for n, st in zip(size, stride))
    if offset < 0 or any(st < 0 for st in stride) or needed * value.element_size() > value.untyped_storage().nbytes():
        raise BenchError(f"{path}: '{key}' points outside its storage")
    return value.detach()


def flatten_state(root: PersistentObject, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, PersistentObject | Container]]:
    """``Module.state_dict()`` of the recorded tree (same keys and order) plus every recorded sub-module."""
    tensors: dict[str, torch.Tensor] = {}
    nodes: dict[str, PersistentObject | Container] = {}

    def visit(node: Any, prefix: str) -> None:
        where = prefix[:-1]
        if not isinstance(node, (PersistentObject, Container)):
            raise BenchError(f"{path}: sub-module '{where}' is a {type(node).__name__}, not a network module")
        nodes[where] = node
        params, buffers, non_persistent, children = _module_fields(node, where, path)
        for name, value in list(params.items()) + [(k, v) for k, v in buffers.items() if k not in non_persistent]:
            if value is None:
                continue
            tensors[prefix + str(name)] = _checked_tensor(value, prefix + str(name), path)
        for name, child in children.items():
            if child is not None:
                visit(child, f"{prefix}{name}.")

    visit(root, "")
    return tensors, nodes


def _plain(value: Any, where: str, path: Path) -> Any:
    """JSON-ready copy of a recorded keyword value (NumPy scalars become Python numbers)."""
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, where, path) for v in value]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, where, path) for k, v in value.items()}
    raise BenchError(f"{path}: constructor keyword {where} holds a {type(value).__name__}, which cannot be recorded")


def init_kwargs_of(root: PersistentObject, path: Path) -> dict[str, Any]:
    args = root.state.get("_init_args", ())
    kwargs = root.state.get("_init_kwargs")
    if args not in ((), [], None):
        raise BenchError(f"{path}: {root.class_name} was built with positional arguments {args!r}; "
                         f"EDM networks take keywords only")
    if not isinstance(kwargs, Mapping):
        raise BenchError(f"{path}: {root.class_name} records no _init_kwargs dict, so it cannot be rebuilt")
    return {str(k): _plain(v, str(k), path) for k, v in kwargs.items()}


def _same_scalar(recorded: Any, built: Any) -> bool:
    if isinstance(recorded, np.generic):
        recorded = recorded.item()
    if isinstance(built, np.generic):
        built = built.item()
    if isinstance(recorded, float) or isinstance(built, float):
        return float(recorded) == float(built) or (math.isnan(float(recorded)) and math.isnan(float(built)))
    return recorded == built


def check_structure(net: torch.nn.Module, nodes: dict[str, PersistentObject | Container], path: Path) -> None:
    """Recorded classes and scalar settings of every sub-module must match the rebuilt network."""
    built = dict(net.named_modules(remove_duplicate=False))
    problems = []
    for where, node in nodes.items():
        module = built.get(where)
        label = where or "the network"
        if module is None:
            problems.append(f"{label}: recorded {_kind(node)}, absent from the rebuilt network")
            continue
        if _kind(node) != type(module).__name__:
            problems.append(f"{label}: recorded {_kind(node)}, rebuilt {type(module).__name__}")
            continue
        for key, recorded in node.state.items():
            if key.startswith("_") or key == "training" or key not in module.__dict__:
                continue
            value = module.__dict__[key]
            scalars = (bool, int, float, str, np.bool_, np.integer, np.floating)
            if isinstance(recorded, scalars) and isinstance(value, scalars) and not _same_scalar(recorded, value):
                problems.append(f"{label}.{key}: recorded {recorded!r}, rebuilt {value!r}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise BenchError(f"{path}: the harness's {type(net).__name__} differs from the pickled network: "
                         f"{'; '.join(problems[:3])}{more}")


def _kind(node: PersistentObject | Container) -> str:
    return node.class_name if isinstance(node, PersistentObject) else node.kind


def build_from_record(root: PersistentObject, path: Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The harness's own network for a recorded root, with the recorded weights loaded strictly."""
    from harness.backbones.edm import NETWORK_CLASSES

    if root.class_name not in NETWORK_CLASSES:
        raise BenchError(f"{path}: network class '{root.class_name}' is not one the harness implements "
                         f"(known: {', '.join(sorted(NETWORK_CLASSES))})")
    kwargs = init_kwargs_of(root, path)
    tensors, nodes = flatten_state(root, path)
    # Built on the meta device and given the pickled tensors (assign=True): no time is spent on a
    # random initialisation that is overwritten anyway. Anything left on meta falls back to CPU.
    net = _build(root.class_name, kwargs, path, meta=True)
    if net is not None:
        _load_strict(net, tensors, nodes, root.class_name, path, assign=True)
        if not _has_meta_tensors(net):
            return net, kwargs
    net = _build(root.class_name, kwargs, path, meta=False)
    _load_strict(net, tensors, nodes, root.class_name, path, assign=False)
    return net, kwargs


def _build(class_name: str, kwargs: dict, path: Path, meta: bool) -> torch.nn.Module | None:
    from harness.backbones.network import build_network

    if meta:
        try:
            with torch.device("meta"):
                return build_network(class_name, kwargs)
        except Exception:  # noqa: BLE001 - any problem is reported by the CPU build below
            return None
    try:
        return build_network(class_name, kwargs)
    except (TypeError, ValueError, KeyError) as exc:
        raise BenchError(f"{path}: cannot build {class_name} from the recorded keywords {kwargs}: {exc}") from None
    except BenchError as exc:
        raise BenchError(f"{path}: {exc}") from None


def _load_strict(net: torch.nn.Module, tensors: dict[str, torch.Tensor], nodes: dict, class_name: str, path: Path,
                 assign: bool) -> None:
    check_structure(net, nodes, path)
    expected = net.state_dict()
    wrong_dtype = [k for k, v in tensors.items() if k in expected and v.dtype != expected[k].dtype]
    if wrong_dtype:
        k = wrong_dtype[0]
        raise BenchError(f"{path}: '{k}' is stored as {tensors[k].dtype}, the network expects {expected[k].dtype}")
    try:
        net.load_state_dict(tensors, strict=True, assign=assign)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise BenchError(f"{path}: the pickled weights do not fit the harness's {class_name} "
                         f"({detail[:400]})") from None


def _has_meta_tensors(net: torch.nn.Module) -> bool:
    for module in net.modules():
        for value in list(module._parameters.values()) + list(module._buffers.values()) + list(vars(module).values()):
            if isinstance(value, torch.Tensor) and value.is_meta:
                return True
    return False


def load_edm_pickle(path: Path | str) -> tuple[torch.nn.Module, dict]:
    """Rebuild the network of an EDM pickle as the harness's own class, without executing the pickle.

    Returns ``(net, card)``; ``net`` is in eval mode with gradients off. A snapshot dict is read
    through its ``'ema'`` entry (the network EDM samples from).
    """
    path = Path(path)
    data, sha256 = read_edm_pickle(path)
    root = network_entry(data, path)
    net, kwargs = build_from_record(root, path)
    net.eval().requires_grad_(False)
    card = {
        "class_name": root.class_name,
        "init_kwargs": kwargs,
        "resolution": int(net.img_resolution),
        "channels": int(net.img_channels),
        "label_dim": int(net.label_dim),
        "source_file": path.name,
        "source_sha256": sha256,
        "kind": "edm-backbone",
        "converted_from": "edm-pickle",
    }
    return net, card


__all__ = ["ALLOWED_GLOBALS", "Container", "PersistentObject", "RefusedGlobalError", "SafeEDMUnpickler",
           "load_edm_pickle", "read_edm_pickle"]
