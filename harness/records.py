"""Records: one JSON per run, evaluation or analysis, written atomically, never edited afterwards.

Layout: ``<results>/<run_id>/record.json`` with ``samples.png`` (a sample grid) and, when kept,
``generator.safetensors`` beside it. A re-run writes a new record with a new run id. Every kind
of record goes through ``envelope`` (schema version, environment, creation time) and ``write``
(sanitised JSON, atomic), so runs, evaluations and analyses share one format.
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib.metadata
import json
import math
import os
import platform
import re
import secrets
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness import numerics
from harness.errors import BenchError, in_brief

SCHEMA_VERSION = 1
RECORD_NAME = "record.json"
REPO_ROOT = Path(__file__).resolve().parent.parent


def new_run_id(method: str, dataset: str, seed: int) -> str:
    """Unique without coordination: UTC time plus 32 random bits, so concurrent runs never collide."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    if ":" in dataset:  # a user dataset named by its path (zip:PATH): its kind and file name
        kind, _, where = dataset.partition(":")
        dataset = f"{kind}-{Path(where).stem}"
    dataset = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset)
    return f"{dataset}-{method}-s{seed}-{stamp}-{secrets.token_hex(4)}"


def create_run_dir(results_dir: Path, run_id: str) -> Path:
    results_dir = Path(results_dir)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        run_dir = results_dir / run_id
        run_dir.mkdir(exist_ok=False)
    except PermissionError:
        raise BenchError(f"results directory {results_dir} is not writable") from None
    except FileExistsError:
        raise BenchError(f"run directory {results_dir / run_id} exists already; a record is never overwritten") from None
    except OSError as exc:
        raise BenchError(f"cannot create a run directory in {results_dir}: {exc.strerror}") from None
    return run_dir


def check_writable(results_dir: Path) -> None:
    """Fail before hours of training, not after, when the results cannot be stored.

    Probes by writing (os.access says yes to root even on a read-only file system): a folder made and
    removed in ``results_dir``, or in its nearest existing parent when it does not exist yet, so a
    command that fails later leaves no empty results folder behind (the run's folder is made with its
    parents when it is stored) and two processes probing one new folder never remove each other's.
    """
    results_dir = Path(results_dir)
    existing = next(p for p in (results_dir, *results_dir.absolute().parents) if p.exists())
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f".write-probe-{os.getpid()}-", dir=existing))
    except OSError as exc:
        raise BenchError(f"results directory {results_dir} is not writable ({exc.strerror or exc})") from None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file in the same folder, fsync, then link into place (never overwrite)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails if the record exists: records are immutable
    except FileExistsError:
        raise BenchError(f"{path} exists already; a record is never overwritten") from None
    except OSError as exc:
        from harness.storage import DISK_ERRNOS, free_bytes, megabytes

        if exc.errno in DISK_ERRNOS:
            raise BenchError(f"could not write {path}: {exc.strerror or exc} ({DISK_ERRNOS[exc.errno]}; it needs "
                             f"{megabytes(len(text))}, {megabytes(free_bytes(path.parent))} free)") from None
        raise BenchError(f"could not write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def sanitize(value: Any) -> Any:
    """JSON-safe: tensors to numbers, paths to text, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # a tensor or numpy array
        return sanitize(value.tolist())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(record: dict, device: str) -> dict:
    """``record`` inside the envelope every record carries: schema version, environment, creation time."""
    return {"schema_version": SCHEMA_VERSION, **record, "environment": environment(device), "created_utc": utc_now()}


def write(run_dir: Path, record: dict) -> Path:
    """Store ``record`` as ``run_dir/record.json`` (sanitised, atomic, never overwriting); its path."""
    path = Path(run_dir) / RECORD_NAME
    write_json_atomic(path, sanitize(record))
    return path


def store_new(results_dir: Path, record: dict, label: str, dataset: str, seed: int) -> Path:
    """A new run folder under ``results_dir`` holding ``record`` (its ``run_id`` is set here)."""
    run_id = new_run_id(label, dataset, seed)
    record["run_id"] = run_id
    return write(create_run_dir(results_dir, run_id), record)


def read_json(path: Path) -> dict:
    """A JSON object from ``path``, or a one-line error naming the file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: not readable JSON ({exc.__class__.__name__}: {in_brief(exc)})") from None
    if not isinstance(data, dict):
        raise BenchError(f"{path}: not a JSON object")
    return data


def write_start(run_dir: Path, path: Path, data: dict) -> None:
    """A new run's start settings (temporary file, then rename); if that fails the new, still empty
    run folder is removed again, so a full disk leaves nothing behind."""
    import shutil

    from harness.storage import disk_errors

    text = json.dumps(sanitize(data), indent=2, sort_keys=True, allow_nan=False) + "\n"
    tmp = Path(path).with_name(f".{Path(path).name}.{os.getpid()}.tmp")
    try:
        with disk_errors("the run's start settings", path, len(text), temporary=tmp):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text)
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise


def git_state() -> dict[str, Any]:
    """The commit of the harness code and whether its code differs from it (results are ignored)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", "harness", "baselines", "pyproject.toml")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


# Record key -> distribution name of the libraries a record's numbers depend on.
DISTRIBUTIONS = {"torchvision": "torchvision", "torch_fidelity": "torch-fidelity", "cleanfid": "clean-fid",
                 "sklearn": "scikit-learn", "safetensors": "safetensors"}


def environment(device: str) -> dict[str, Any]:
    import numpy
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}
    # Read from the installed distributions' metadata: importing the libraries would cost seconds.
    for name, dist in DISTRIBUTIONS.items():
        try:
            versions[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:  # a missing optional library is recorded as such
            versions[name] = None
    from harness import __version__

    versions["bench"] = __version__
    hardware = {"device": device, "platform": platform.platform(), "processor": platform.machine(),
                "cpu_threads": torch.get_num_threads(), **numerics.describe()}
    from harness.threads import chosen_policy

    if chosen_policy() is not None:  # how the command chose its thread count (harness/threads.py)
        hardware["cpu_threads_policy"] = chosen_policy()
    if device.startswith("cuda") and torch.cuda.is_available():
        hardware["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return {"versions": versions, "hardware": hardware, "git": git_state(), "packages": package_state()}


LOCK_FILE = "requirements.lock"


def package_state() -> dict[str, Any]:
    """Fingerprints of the Python environment: the sha256 of the repository's lock file (the exact
    environment CI and the stored results use) and of the sorted ``name==version`` list of every
    installed distribution, so `bench verify` can say when a re-run's environment is another one."""
    import hashlib

    lock = REPO_ROOT / LOCK_FILE
    installed = installed_distributions()
    return {"lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None,
            "installed_sha256": hashlib.sha256("\n".join(installed).encode()).hexdigest(),
            "installed_count": len(installed)}


@functools.lru_cache(maxsize=1)
def installed_distributions() -> tuple[str, ...]:
    """Sorted ``name==version`` of every installed distribution, read once per process: each
    distribution's metadata file is parsed once (``Distribution.metadata`` re-parses it at every access,
    ~0.3 s per record for ~100 packages when read three times each)."""
    found = set()
    for dist in importlib.metadata.distributions():
        meta = dist.metadata
        if meta["Name"]:
            found.add(f"{meta['Name'].lower()}=={meta['Version']}")
    return tuple(sorted(found))


def evaluated_run(record: dict) -> str | None:
    """The run id a `bench eval --checkpoint` record measured (None for any other record)."""
    evaluation = record.get("evaluation")
    return str(evaluation["evaluation_of"]) if isinstance(evaluation, dict) and evaluation.get("evaluation_of") else None


def load_records(results_dir: Path, check_shape: bool = True) -> tuple[list[dict], list[str]]:
    """All readable records, plus one line per unreadable file naming it (the rest still load). A record
    with a part of another type than runs write is one of those lines (harness/record_shape.py), unless
    ``check_shape`` is off (`bench verify` refuses such a reference instead of leaving it out)."""
    from harness.record_shape import shape_problem

    records, problems = [], []
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return records, [f"{results_dir}: no such results directory"]
    where: dict[str, Path] = {}
    for path in sorted(results_dir.glob(f"*/{RECORD_NAME}")):
        try:
            if not path.is_file():  # a FIFO would block the read for ever
                raise ValueError("not a regular file")
            record = json.loads(path.read_text())
            if not isinstance(record, dict) or "schema_version" not in record or "run_id" not in record:
                raise ValueError("not a run record")
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: unreadable record ({exc.__class__.__name__}: {str(exc)[:80]})")
            continue
        problem = shape_problem(record) if check_shape else None
        if problem:
            problems.append(f"{path}: malformed record ({problem}), not used")
            continue
        if str(record["run_id"]) in where:  # a run folder copied under another name: count the run once
            problems.append(f"{path}: run {record['run_id']} again (also {where[str(record['run_id'])]}); counted once")
            continue
        where[str(record["run_id"])] = path
        record["_path"] = str(path)
        records.append(record)
    return records, problems


def check_result(path: Path) -> None:
    """A stored record that is no result (a failed run, a non-finite metric) is an error (exit 1):
    a script reading the exit status must not take it for one."""
    failure = failure_of(path)
    if failure:
        raise BenchError(f"the run failed ({failure}); its record is {path}")


def failure_of(path: Path) -> str | None:
    """Why a stored record is not a result (a failed run, or a metric that is not a finite number), or None."""
    record = json.loads(Path(path).read_text())
    if record.get("status") != "completed":
        why = record.get("failure") or {}
        return f"{why.get('reason', record.get('status'))} at step {why.get('step', '?')}" if why else str(record.get("status"))
    bad = [m.get("name") for m in record.get("metrics") or []
           if not isinstance(m.get("value"), (int, float)) or not math.isfinite(m["value"])]
    return f"metric {', '.join(map(str, bad))} is not a finite number" if bad else None
