"""Shared pytest fixtures for the `bench` test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import write_tiny_backbone

# Tests never touch the network: hub libraries and the harness's own downloads stay offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("BENCH_OFFLINE", "1")
# Tests build feature networks of their own; keep their features out of the user's cache
# (tests/metrics/test_feature_cache.py turns it on in a temporary directory).
os.environ["BENCH_FEATURE_CACHE"] = "off"

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


@pytest.fixture
def tiny_backbone(tmp_path: Path) -> Path:
    return write_tiny_backbone(tmp_path / "tiny.safetensors")
