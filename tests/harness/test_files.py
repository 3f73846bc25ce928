"""One weights-file lookup and one hasher (harness/files.py) for backbones, metrics and feature networks."""

from __future__ import annotations

import hashlib
import os

import harness.backbones.files
import harness.features
import harness.metrics.artefacts
import harness.metrics.features
from harness.files import sha256_file, weights_dir, weights_search_dirs


def test_one_hasher_everywhere(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights" * 1000)
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert harness.backbones.files.sha256_file is sha256_file
    assert harness.metrics.features.file_sha256 is sha256_file
    assert harness.features.sha256_file is sha256_file
    os.utime(path, ns=(1, 1))
    path.write_bytes(b"other")  # a changed file is hashed again
    assert sha256_file(path) == hashlib.sha256(b"other").hexdigest()


def test_one_lookup_order(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert weights_dir() == tmp_path / "env" and weights_dir(tmp_path / "flag") == tmp_path / "flag"
    assert weights_search_dirs() == [tmp_path / "env", tmp_path / "torch" / "hub" / "checkpoints"]
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "vgg16_bn.pth").write_bytes(b"x")
    # the discriminator's feature networks and the metric networks look in the same places
    assert harness.features.find_weights(["vgg16_bn.pth"]) == tmp_path / "env" / "vgg16_bn.pth"
    assert harness.metrics.artefacts.weights_dir is weights_dir
    monkeypatch.delenv("BENCH_WEIGHTS_DIR")
    assert weights_search_dirs()[0].parts[-3:] == (".cache", "bench", "weights")
