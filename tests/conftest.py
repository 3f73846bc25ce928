"""Shared pytest fixtures for the `bench` test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never touch the network: hub libraries and the harness's own downloads stay offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("BENCH_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SPECS_ENV = "BENCH_SPECS_DIR"


def find_specs_dir() -> Path | None:
    """The shared specs folder: $BENCH_SPECS_DIR, else `<repo root>/../shared/specs`."""
    configured = os.environ.get(SPECS_ENV)
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "specs"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    """Path to the shared specs; fails (never skips) when they cannot be found."""
    found = find_specs_dir()
    if found is None:
        pytest.fail(
            f"specs directory not found: set {SPECS_ENV} or place the specs at "
            f"{REPO_ROOT.parent / 'shared' / 'specs'}",
            pytrace=False,
        )
    return found


TINY_SONGUNET = {
    "img_resolution": 8, "img_channels": 1, "label_dim": 0, "model_type": "SongUNet",
    "model_channels": 16, "channel_mult": [1, 2], "num_blocks": 1, "attn_resolutions": [4],
    "embedding_type": "positional", "channel_mult_noise": 1, "encoder_type": "standard",
    "decoder_type": "standard", "resample_filter": [1, 1], "dropout": 0.0,
}


def write_tiny_backbone(path: Path, seed: int = 0, **overrides) -> Path:
    """A randomly initialised small EDMPrecond + SongUNet saved the way the harness saves backbones."""
    import torch

    from harness.backbones import build_network
    from harness.backbones.files import save_weights

    kwargs = {**TINY_SONGUNET, **overrides}
    torch.manual_seed(seed)
    net = build_network("EDMPrecond", kwargs)
    save_weights(net.state_dict(), path, {"class_name": "EDMPrecond", "init_kwargs": kwargs, "kind": "test"})
    return path


@pytest.fixture
def tiny_backbone(tmp_path: Path) -> Path:
    return write_tiny_backbone(tmp_path / "tiny.safetensors")
