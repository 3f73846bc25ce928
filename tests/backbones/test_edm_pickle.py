"""Safe loading of NVIDIA EDM network pickles (NVlabs/edm torch_utils/persistence.py) and `bench backbones convert`.

The EDM-format pickles are written here, from the harness's own networks, with the persistence
structure EDM writes (NVlabs/edm torch_utils/persistence.py): every network object pickles as a call of
``torch_utils.persistence._reconstruct_persistent_obj(meta)``. That global is a stand-in module
registered in ``sys.modules`` only while writing; no NVIDIA code is involved. Each ``module_src``
is Python that would create a marker file if anything ever executed it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import pickle
import subprocess
import sys
import time
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from harness.backbones import BACKBONES, load, load_backbone
from harness.backbones_command import convert
from harness.backbones.edm import NETWORK_CLASSES
from harness.backbones.edm_pickle import load_edm_pickle
from harness.backbones.edm_unpickler import SafeEDMUnpickler
from harness.backbones.files import card_path, save_weights
from harness.errors import BenchError, MissingArtefactError

# ---------------------------------------------------------------------------------------------
# Small networks
# ---------------------------------------------------------------------------------------------

DDPMPP_UNCOND = {
    "model_type": "SongUNet", "embedding_type": "positional", "encoder_type": "standard", "decoder_type": "standard",
    "channel_mult_noise": 1, "resample_filter": [1, 1], "model_channels": 16, "channel_mult": [1, 2],
    "num_blocks": 1, "attn_resolutions": [4], "augment_dim": 9, "dropout": 0.13, "use_fp16": False,
    "img_resolution": 8, "img_channels": 3, "label_dim": 0,
}
NCSNPP_COND = {
    "model_type": "SongUNet", "embedding_type": "fourier", "encoder_type": "residual", "decoder_type": "standard",
    "channel_mult_noise": 2, "resample_filter": [1, 3, 3, 1], "model_channels": 16, "channel_mult": [1, 2],
    "num_blocks": 1, "attn_resolutions": [4], "augment_dim": 9, "dropout": 0.13, "use_fp16": False,
    "img_resolution": 8, "img_channels": 3, "label_dim": 4,
}
ADM_COND = {
    "model_type": "DhariwalUNet", "model_channels": 16, "channel_mult": [1, 2], "num_blocks": 1,
    "attn_resolutions": [4], "dropout": 0.1, "use_fp16": True, "img_resolution": 8, "img_channels": 3,
    "label_dim": 3,
}
SMALL_CONFIGS = {"ddpmpp-uncond": DDPMPP_UNCOND, "ncsnpp-cond-fourier": NCSNPP_COND, "adm-cond": ADM_COND}
# (wrapper class, inner configuration): EDM's own wrapper on all three architectures, plus the
# VP wrapper and iDDPM (the one wrapper that owns a tensor, the buffer `u`).
LOAD_CASES = {**{name: ("EDMPrecond", cfg) for name, cfg in SMALL_CONFIGS.items()},
              "vp-ddpmpp": ("VPPrecond", DDPMPP_UNCOND), "iddpm-adm": ("iDDPMPrecond", ADM_COND)}


def make_net(kwargs: dict, seed: int = 0, class_name: str = "EDMPrecond") -> nn.Module:
    torch.manual_seed(seed)
    net = NETWORK_CLASSES[class_name](**copy.deepcopy(kwargs))
    with torch.no_grad():  # EDM zero-initialises some layers; make every tensor distinctive
        for p in net.parameters():
            p.add_(torch.randn(p.shape) * 0.05)
    return net.eval().requires_grad_(False)


# ---------------------------------------------------------------------------------------------
# Writing EDM-format pickles (NVlabs/edm torch_utils/persistence.py), with a stand-in for torch_utils.persistence
# ---------------------------------------------------------------------------------------------

EDM_MODULE_PREFIXES = ("torch_utils", "dnnlib", "training")


def foreign_modules() -> list[str]:
    return sorted(m for m in sys.modules
                  if m.split(".")[0] in EDM_MODULE_PREFIXES or m.startswith("_imported_module_"))


def booby_trapped_source(marker: Path, what: str) -> str:
    """A ``module_src`` that leaves ``marker`` behind if anything executes it."""
    return (f'"""Stand-in for {what}; the safe loader must never execute it."""\n'
            f"import pathlib\npathlib.Path({str(marker)!r}).write_text('module_src of {what} was executed')\n")


@contextlib.contextmanager
def fake_persistence_module():
    """``torch_utils.persistence._reconstruct_persistent_obj``, importable only while pickling."""
    assert "torch_utils" not in sys.modules and "torch_utils.persistence" not in sys.modules
    package = types.ModuleType("torch_utils")
    package.__path__ = []
    module = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - only its name is pickled
        raise AssertionError("the writer's reconstruct function must never be called")

    _reconstruct_persistent_obj.__module__ = module.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    package.persistence = module
    sys.modules["torch_utils"], sys.modules["torch_utils.persistence"] = package, module
    try:
        yield
    finally:
        del sys.modules["torch_utils.persistence"], sys.modules["torch_utils"]


class Persistent:
    """Pickles the way an EDM ``@persistent_class`` object does: REDUCE(reconstruct, (meta,))."""

    def __init__(self, class_name: str, state: dict, module_src: str):
        self.class_name, self.state, self.module_src = class_name, state, module_src

    def __reduce__(self):
        reconstruct = sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj
        meta = {"type": "class", "version": 6, "module_src": self.module_src, "class_name": self.class_name,
                "state": self.state}
        return reconstruct, (meta,)


class Evil:
    """An object whose unpickling would call ``fn(arg)``."""

    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return self.fn, (self.arg,)


def edm_state(module: nn.Module, module_src: str, init_kwargs: dict | None, mapping=dict) -> Persistent | nn.ModuleDict:
    """A module as EDM pickles it (NVlabs/edm torch_utils/persistence.py): Module fields, plain attributes, `_init_kwargs`."""
    state: dict = {}
    for key, value in module.__dict__.items():
        if key == "_parameters":
            state[key] = mapping((n, p) for n, p in value.items())
        elif key == "_buffers":
            state[key] = mapping(value.items())
        elif key == "_modules":
            state[key] = mapping((n, None if c is None else edm_state(c, module_src, None, mapping))
                                 for n, c in value.items())
        elif key == "_non_persistent_buffers_set":
            state[key] = set(value)
        elif key.startswith("_"):
            if isinstance(value, (dict, bool, type(None))) and not (isinstance(value, dict) and value):
                state[key] = value  # the empty hook dicts and flags of this PyTorch version
        elif isinstance(value, (bool, int, float, str, type(None))):
            # EDM's SongUNet blocks hold skip_scale as a NumPy float64 (NVlabs/edm torch_utils/persistence.py).
            state[key] = np.float64(value) if key == "skip_scale" else value
    if isinstance(module, nn.ModuleDict):  # not persistent: NEWOBJ + BUILD on torch's ModuleDict
        container = nn.ModuleDict.__new__(nn.ModuleDict)
        container.__dict__.update(state)
        return container
    assert type(module).__module__.startswith("harness.backbones.edm"), type(module)
    if init_kwargs is None:  # children record their own keywords; EDM's init dicts hold NumPy scalars
        init_kwargs = {k: v for k, v in state.items() if not k.startswith("_") and k != "training"}
        init_kwargs["init"] = {"init_mode": "xavier_uniform", "init_weight": np.float64(math.sqrt(0.2))}
    state["_init_args"] = ()
    state["_init_kwargs"] = copy.deepcopy(init_kwargs)
    return Persistent(type(module).__name__, state, module_src)


def edm_snapshot(net: nn.Module, marker: Path, mapping=dict, class_name: str | None = None, **extra) -> dict:
    """The dict EDM's training loop pickles (NVlabs/edm torch_utils/persistence.py)."""
    ema = edm_state(net, booby_trapped_source(marker, "training/networks.py"), net.init_kwargs, mapping)
    if class_name is not None:
        ema.class_name = class_name
    loss = Persistent("EDMLoss", {"P_mean": -1.2, "P_std": 1.2, "sigma_data": 0.5, "_init_args": (), "_init_kwargs": {}},
                      booby_trapped_source(marker, "training/loss.py"))
    augment = Persistent("AugmentPipe", {"p": 0.12, "xflip": 1e8, "_init_args": (), "_init_kwargs": {"p": 0.12}},
                         booby_trapped_source(marker, "training/augment.py"))
    dataset_kwargs = {"class_name": "training.dataset.ImageFolderDataset", "path": "datasets/x.zip",
                      "use_labels": bool(net.label_dim), "xflip": False, "cache": True, "resolution": 8,
                      "max_size": 100}
    return {"ema": ema, "loss_fn": loss, "augment_pipe": augment, "dataset_kwargs": dataset_kwargs, **extra}


def write_pickle(path: Path, obj, protocol: int = 4) -> Path:
    with fake_persistence_module():
        data = pickle.dumps(obj, protocol=protocol)
    path.write_bytes(data)
    return path


def write_edm_pickle(path: Path, net: nn.Module, marker: Path | None = None, **kwargs) -> Path:
    marker = marker or path.with_name(path.name + ".EXECUTED")
    return write_pickle(path, edm_snapshot(net, marker, **kwargs))


def assert_same_network(a: nn.Module, b: nn.Module, label_dim: int, augment: bool = True) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype and torch.equal(sa[key], sb[key]), key
    g = torch.Generator().manual_seed(1)
    res, ch = a.img_resolution, a.img_channels
    x = torch.randn(2, ch, res, res, generator=g)
    sigma = torch.tensor([0.3, 7.0])
    labels = torch.eye(label_dim)[:2] if label_dim else None
    kwargs = {"augment_labels": torch.randn(2, 9, generator=g)} if augment else {}
    with torch.no_grad():
        assert torch.equal(a(x, sigma, labels, **kwargs), b(x, sigma, labels, **kwargs))


# ---------------------------------------------------------------------------------------------
# Loading: bit-exact, no EDM module imported, no module_src executed
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(LOAD_CASES))
def test_edm_pickle_loads_bit_exactly(tmp_path, case):
    class_name, kwargs = LOAD_CASES[case]
    net = make_net(kwargs, class_name=class_name)
    marker = tmp_path / "EXECUTED"
    path = write_edm_pickle(tmp_path / f"{case}.pkl", net, marker)
    assert foreign_modules() == []

    loaded, card = load_edm_pickle(path)

    assert type(loaded) is type(net) and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    assert_same_network(net, loaded, kwargs["label_dim"], augment=kwargs.get("augment_dim", 0) > 0)
    assert foreign_modules() == [] and not marker.exists()
    assert card == {
        "class_name": class_name, "init_kwargs": kwargs, "resolution": 8, "channels": 3,
        "label_dim": kwargs["label_dim"], "source_file": path.name,
        "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "kind": "edm-backbone", "converted_from": "edm-pickle",
    }
    json.dumps(card)  # a card is plain JSON


def test_pickle_asks_only_for_the_spec_globals(tmp_path):
    """What the writer produces is what EDM's pickles hold (NVlabs/edm torch_utils/persistence.py), so the test pickles are realistic."""
    path = write_edm_pickle(tmp_path / "n.pkl", make_net(NCSNPP_COND))
    asked = set()

    class Recorder(SafeEDMUnpickler):
        def find_class(self, module, name):
            asked.add((module, name))
            return super().find_class(module, name)

    with open(path, "rb") as f:
        Recorder(f, path).load()
    assert asked == {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"), ("torch.nn.modules.container", "ModuleDict"),
        ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_tensor_v2"),
        ("torch.storage", "_load_from_bytes"), ("collections", "OrderedDict"),
        (np.float64(0).__reduce__()[0].__module__, "scalar"), ("numpy", "dtype"),
    }
    assert foreign_modules() == []


def test_bare_network_pickle_old_protocol_and_ordered_dicts(tmp_path):
    """A pickle of the network itself, protocol 2 (sets as calls) and OrderedDict fields (older PyTorch)."""
    net = make_net(DDPMPP_UNCOND, seed=3)
    ema = edm_snapshot(net, tmp_path / "EXECUTED", mapping=OrderedDict)["ema"]
    path = write_pickle(tmp_path / "bare.pkl", ema, protocol=2)
    loaded, card = load_edm_pickle(path)
    assert_same_network(net, loaded, 0)
    assert card["class_name"] == "EDMPrecond" and not (tmp_path / "EXECUTED").exists()


def test_snapshot_without_ema_is_a_clear_error(tmp_path):
    snapshot = edm_snapshot(make_net(DDPMPP_UNCOND), tmp_path / "EXECUTED")
    del snapshot["ema"]
    path = write_pickle(tmp_path / "noema.pkl", snapshot)
    with pytest.raises(BenchError, match="no 'ema' network"):
        load_edm_pickle(path)


def test_unknown_network_class_is_named(tmp_path):
    path = write_edm_pickle(tmp_path / "x.pkl", make_net(DDPMPP_UNCOND), class_name="MysteryPrecond")
    with pytest.raises(BenchError, match="'MysteryPrecond' is not one the harness implements"):
        load_edm_pickle(path)


def test_recorded_settings_that_own_no_tensors_are_checked(tmp_path):
    """num_heads has no weights; a pickle whose block disagrees with the rebuilt one is refused."""
    net = make_net(DDPMPP_UNCOND)
    snapshot = edm_snapshot(net, tmp_path / "EXECUTED")
    block = snapshot["ema"].state["_modules"]["model"].state["_modules"]["enc"].__dict__["_modules"]["4x4_block0"]
    assert block.class_name == "UNetBlock" and block.state["num_heads"] == 1
    block.state["num_heads"] = 2
    path = write_pickle(tmp_path / "heads.pkl", snapshot)
    with pytest.raises(BenchError, match=r"model\.enc\.4x4_block0\.num_heads: recorded 2, rebuilt 1"):
        load_edm_pickle(path)


def test_keywords_that_do_not_fit_the_weights(tmp_path):
    net = make_net(DDPMPP_UNCOND)
    snapshot = edm_snapshot(net, tmp_path / "EXECUTED")
    snapshot["ema"].state["_init_kwargs"]["model_channels"] = 32
    path = write_pickle(tmp_path / "mismatch.pkl", snapshot)
    with pytest.raises(BenchError, match="mismatch.pkl"):
        load_edm_pickle(path)


# ---------------------------------------------------------------------------------------------
# Refusals: nothing outside the allow-list is resolved, nothing runs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_malicious_globals_are_refused_and_nothing_runs(tmp_path, attack):
    marker = tmp_path / "MARKER"
    payload = {
        "os.system": lambda: Evil(os.system, f"touch {marker}"),
        "builtins.eval": lambda: Evil(eval, f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"),
        "subprocess.Popen": lambda: Evil(subprocess.Popen, ["touch", str(marker)]),
    }[attack]()
    fn = payload.fn
    expected = f"{fn.__module__}.{fn.__qualname__}"  # os.system pickles as posix.system on Linux
    # The attack sits after a valid network, so it is refused even though 'ema' parsed fine.
    snapshot = edm_snapshot(make_net(DDPMPP_UNCOND), tmp_path / "EXECUTED")
    snapshot["dataset_kwargs"]["path"] = payload
    path = write_pickle(tmp_path / "evil.pkl", snapshot)
    with pytest.raises(BenchError) as info:
        load_edm_pickle(path)
    assert f"'{expected}'" in str(info.value) and "refusing" in str(info.value)
    time.sleep(0.05)  # a spawned process would have had time to touch the marker
    assert not marker.exists() and not (tmp_path / "EXECUTED").exists()


def test_hand_written_os_system_global_is_refused(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil0.pkl"
    path.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(BenchError, match=r"'os\.system'"):
        load_edm_pickle(path)
    assert not marker.exists()


def test_build_on_an_allowed_global_is_refused(tmp_path):
    """BUILD on a stand-in function (e.g. to change its __defaults__) fails and changes nothing."""
    from harness.backbones.edm_unpickler import ALLOWED_GLOBALS

    path = tmp_path / "build.pkl"
    name = b"__defaults__"
    path.write_bytes(b"\x80\x02ctorch._utils\n_rebuild_parameter\n}X" + len(name).to_bytes(4, "little") + name
                     + b"K\x01\x85sb.")
    with pytest.raises(BenchError, match="unexpected BUILD"):
        load_edm_pickle(path)
    stand_in = ALLOWED_GLOBALS[("torch._utils", "_rebuild_parameter")]
    assert stand_in(torch.ones(1)).shape == (1,) and not hasattr(stand_in, "__dict__")


def test_malicious_storage_blob_is_refused(tmp_path):
    """The storage loader reads blobs with torch.load(weights_only=True), never the full unpickler."""
    marker = tmp_path / "MARKER"
    evil_blob = pickle.dumps(Evil(os.system, f"touch {marker}"))
    path = write_pickle(tmp_path / "blob.pkl", Evil(torch.storage._load_from_bytes, evil_blob))
    with pytest.raises(BenchError, match="not a readable EDM pickle"):
        load_edm_pickle(path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "zip"])
def test_damaged_files_are_clear_errors(tmp_path, damage):
    path = tmp_path / "broken.pkl"
    if damage == "zip":
        torch.save({"net": torch.zeros(2)}, path)
    else:
        good = write_edm_pickle(tmp_path / "good.pkl", make_net(DDPMPP_UNCOND)).read_bytes()
        path.write_bytes({"truncated": good[: len(good) // 2], "empty": b"", "garbage": b"\x00not a pickle"}[damage])
    with pytest.raises(BenchError) as info:
        load_edm_pickle(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert ("zip archive" if damage == "zip" else "truncated or corrupt") in message


# ---------------------------------------------------------------------------------------------
# Conversion to safetensors
# ---------------------------------------------------------------------------------------------


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    from harness.cli import main

    monkeypatch.setattr(sys, "argv", ["bench", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_convert_round_trip(tmp_path, monkeypatch, capsys):
    net = make_net(NCSNPP_COND, seed=5)
    src = write_edm_pickle(tmp_path / "edm-small.pkl", net)

    card = convert(src, tmp_path / "a.safetensors")
    assert card["source_file"] == "edm-small.pkl" and card["kind"] == "edm-backbone"
    assert json.loads(card_path(tmp_path / "a.safetensors").read_text()) == card
    assert_same_network(net, load(str(tmp_path / "a.safetensors")), NCSNPP_COND["label_dim"])

    code, out, err = run_cli(monkeypatch, capsys, "backbones", "convert", str(src), str(tmp_path / "b.safetensors"))
    assert code == 0, err
    assert "b.safetensors" in out and "EDMPrecond" in out
    loaded = load_backbone(str(tmp_path / "b.safetensors"))
    assert loaded.card == card
    assert_same_network(net, loaded.net, NCSNPP_COND["label_dim"])
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    assert_same_network(net, load(str(src)), NCSNPP_COND["label_dim"])  # the .pkl itself, via the same API


def test_convert_cli_refuses_malicious_pickle_in_one_line(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "MARKER"
    path = write_pickle(tmp_path / "evil.pkl", {"ema": Evil(os.system, f"touch {marker}")})
    code, out, err = run_cli(monkeypatch, capsys, "backbones", "convert", str(path), str(tmp_path / "o.safetensors"))
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: ")
    assert f"'{os.system.__module__}.system'" in err
    assert not marker.exists() and not (tmp_path / "o.safetensors").exists()


# ---------------------------------------------------------------------------------------------
# Registry and safetensors errors
# ---------------------------------------------------------------------------------------------


def test_missing_registry_backbone_offline_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.setenv("BENCH_BACKBONE_DIR", str(tmp_path / "cache"))
    spec = BACKBONES.get("edm-cifar10-32x32-uncond-ve")
    start = time.perf_counter()
    with pytest.raises(MissingArtefactError) as info:
        load_backbone("edm-cifar10-32x32-uncond-ve")
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "edm-cifar10-32x32-uncond-ve.pkl" in message
    assert spec.url in message and str(tmp_path / "cache") in message


def test_safetensors_of_another_architecture_is_a_clear_error(tmp_path):
    net = make_net(DDPMPP_UNCOND)
    other = {**DDPMPP_UNCOND, "model_channels": 32}
    path = tmp_path / "wrong.safetensors"
    save_weights(net.state_dict(), path, {"class_name": "EDMPrecond", "init_kwargs": other, "kind": "test"})
    with pytest.raises(BenchError, match=r"wrong\.safetensors: weights do not fit EDMPrecond"):
        load_backbone(str(path))


# ---------------------------------------------------------------------------------------------
# End to end: a full-size edm-cifar10-32x32-uncond-ve-shaped pickle through `bench run`
# ---------------------------------------------------------------------------------------------


def write_cifar10_batches(root: Path, per_batch: int = 8) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        batch = {b"batch_label": f"training batch {i} of 5".encode(),
                 b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
                 b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"filenames": [f"img{i}_{j}.png".encode() for j in range(per_batch)]}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def use_small_feature_network_for_cifar10(monkeypatch) -> None:
    """This test is about the backbone path; Inception FID (2048-d, real weights) is tested in
    tests/metrics. Measure with a fixed random 48-d projection instead, registered like any extractor."""
    import dataclasses

    from harness.data import DATASETS
    from harness.metrics.features import FEATURE_EXTRACTORS, FeatureExtractor

    def factory(weights_path, device="cpu"):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(48, 48))
        return FeatureExtractor("test-random-48d", net, 48, "none", 32, 3, device)

    monkeypatch.setitem(FEATURE_EXTRACTORS._entries, "test-random-48d", factory)
    spec = dataclasses.replace(DATASETS.get("cifar10"), feature_extractor="test-random-48d")
    monkeypatch.setitem(DATASETS._entries, "cifar10", spec)


def test_bench_run_teacher_on_full_size_edm_pickle(tmp_path, specs_dir, monkeypatch, capsys):
    summary = json.loads((specs_dir / "edm" / "keys" / "keys_summary.json").read_text())["cifar10_32_ncsnpp_uncond"]
    assert summary["checkpoint"] == "edm-cifar10-32x32-uncond-ve.pkl"
    torch.manual_seed(0)
    net = NETWORK_CLASSES[summary["top_class"]](**summary["init_kwargs"]).eval().requires_grad_(False)
    assert sum(p.numel() for p in net.parameters()) == summary["param_scalars"] == 56_397_827
    pkl = write_edm_pickle(tmp_path / "edm-cifar10-32x32-uncond-ve.pkl", net)
    data = write_cifar10_batches(tmp_path / "data")
    results = tmp_path / "results"

    import harness.backbones.edm_pickle as edm_pickle

    loads = []

    def spy(path):
        loads.append(real_load(path))
        return loads[-1]

    real_load = edm_pickle.load_edm_pickle
    monkeypatch.setattr(edm_pickle, "load_edm_pickle", spy)
    use_small_feature_network_for_cifar10(monkeypatch)
    code, out, err = run_cli(monkeypatch, capsys, "run", "--method", "teacher", "--dataset", "cifar10",
                             "--backbone", str(pkl), "--num-samples", "4", "--set", "num_steps=2",
                             "--device", "cpu", "--results", str(results), "--data", str(data), "--quiet")

    # The backbone the run loaded: the full-size network, bit for bit.
    assert len(loads) == 1, err
    loaded, card = loads[0]
    assert card["init_kwargs"] == summary["init_kwargs"] and card["source_file"] == pkl.name
    expected, got = net.state_dict(), loaded.state_dict()
    assert len(got) == summary["state_dict_entries"] == 432 and list(got) == list(expected)
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    del net, loaded, loads, expected, got

    assert code == 0, f"bench run failed: {err.strip()}"
    record_path = Path(out.strip().splitlines()[-1])
    record = json.loads(record_path.read_text())
    assert record["status"] == "completed" and record["method"] == "teacher" and record["nfe"] == 3
    assert record["backbone"]["file"] == pkl.name
    assert record["backbone"]["sha256"] == hashlib.sha256(pkl.read_bytes()).hexdigest()
    assert record["data"]["num_images"] == 40
    assert {m["name"] for m in record["metrics"]} == {"fd", "precision", "recall"}
    assert all(m["num_samples"] == 4 for m in record["metrics"])
    assert (record_path.parent / "samples.png").is_file()
    assert foreign_modules() == [] and not pkl.with_name(pkl.name + ".EXECUTED").exists()
