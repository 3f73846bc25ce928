"""A stored run's generator, re-made when its weights were not kept.

A clone of the repository holds records, not generators (``generator.safetensors`` is not committed:
see .gitignore), yet a record names everything its run needs: config, seed, backbone and data hashes,
device, thread count and numerics. So the generator behind a record is re-made by re-running the
record's config as `bench verify` re-runs a reference, and it is accepted only when the re-run's
final metrics equal the record's bit for bit: then it is the record's generator, not a look-alike.
A run made on a GPU is not re-made on a CPU (other numerics give another generator).

Re-made generators are cached under ``$BENCH_CACHE_DIR/generators/<run id>-<record sha256[:12]>/``
(a copy of the stored record beside the weights, and ``remade.json`` naming the weights' sha256), so
the stored run folder is never written to and a second evaluation does not train again; an entry that
fails those checks (damaged, partial, or written by an older bench) is re-made. A re-run that did not
reproduce its record leaves a memo beside that folder (``.failed.json``: the CPU, commit and packages
it ran with, and why it failed), so the same setup is refused at once the next time rather than
trained again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from harness import numerics, records
from harness.errors import BenchError
from harness.files import sha256_file
from harness.fresh_processes import run_in_fresh_processes

GENERATOR_FILES = ("generator.safetensors", "generator.json")


def cache_root() -> Path:
    from harness.metrics.reference import CACHE_DIR_ENV

    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "bench").expanduser() / "generators"


def needs_remake(run_dir: Path, record: dict) -> bool:
    """A training method's run folder without its final weights (a training-free method needs none)."""
    from baselines import METHODS

    return METHODS.get(record["method"]).trains and not (Path(run_dir) / GENERATOR_FILES[0]).is_file()


def record_digest(path: Path) -> str:
    """The first 12 hex digits of a record file's sha256: the cache folder's name carries them."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def cached_dir(run_dir: Path, record: dict) -> Path:
    digest = record_digest(Path(run_dir) / records.RECORD_NAME)
    return cache_root() / f"{record.get('run_id') or Path(run_dir).name}-{digest}"


def check_remakeable(record: dict) -> None:
    """Refuse before any work what a re-run here cannot reproduce (one line each)."""
    import torch

    run_id = record.get("run_id")
    if record.get("status") != "completed":
        raise BenchError(f"run {run_id} did not complete; it has no final generator to re-make")
    hardware = (record.get("environment") or {}).get("hardware") or {}
    device = hardware.get("device", "cpu")
    if device != "cpu" and not torch.cuda.is_available():
        raise BenchError(f"run {run_id} was trained on {device} and its generator was not kept; a CPU re-run "
                         f"would be another generator: re-make it on a GPU (bench eval --device cuda)")
    made = numerics.native_kind(hardware)
    if device == "cpu" and made and (here := numerics.this_native_kind()) != made:
        raise BenchError(f"run {run_id} was made with native numerics on {made[0]} {made[1]} kernels and this CPU "
                         f"runs {here[0]} {here[1]} kernels, which sum in another order (harness/numerics.py): a "
                         f"re-run here would be another generator; re-make it on an {made[0]} CPU with {made[1]}, "
                         f"or re-run it here as a new record (bench run --from-record)")


def other_vendor_note(record: dict) -> str:
    """A warning, before the wait, for a portable record made on the other vendor's CPU: the Intel Xeon's
    digits references re-run on an AMD EPYC 2.6e-6 apart in FD at 1 kimg and 1.2% apart at 20 kimg
    (harness/numerics.py), and a re-made generator must reproduce its record bit for bit. Not a
    refusal: the outcome is not known before the re-run."""
    hardware = (record.get("environment") or {}).get("hardware") or {}
    made, here = str(hardware.get("cpu_model") or ""), numerics.cpu_model()
    if hardware.get("numerics") != "portable" or not made or numerics.vendor(made) == numerics.vendor(here):
        return ""
    return (f" It was made on an {made} and this is an {here}: portable numerics have not always given the "
            "same bits across CPU vendors, so the re-run may not reproduce the record, and then its generator "
            "cannot be re-made here.")


def this_setup() -> dict | None:
    """What decides a re-run's floats besides the record: this CPU, the code and the installed packages;
    None with uncommitted changes to the code (then a failed re-make says nothing of the next one)."""
    git = records.git_state()
    if not git.get("commit") or git.get("dirty") is not False:
        return None
    return {"cpu_model": numerics.cpu_model(), "commit": git["commit"],
            "installed_sha256": records.package_state()["installed_sha256"]}


def failure_memo(target: Path) -> Path:
    return target.parent / f"{target.name}.failed.json"


def refuse_known_failure(target: Path) -> None:
    """A re-make that failed with this same setup fails again: say so at once instead of training again."""
    memo = failure_memo(target)
    if not memo.is_file():  # the usual case: no git or package scan for it
        return
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        return  # a damaged memo only costs the wait
    if (isinstance(known, dict) and isinstance(known.get("message"), str) and known.get("setup") is not None
            and known.get("setup") == this_setup()):
        raise BenchError(f"{known['message']} [re-run here on {known.get('date', '?')} with this code and packages; "
                         f"not repeated (delete {memo} to try again)]")


def remember_failure(target: Path, message: str) -> None:
    import datetime

    setup, memo = this_setup(), failure_memo(target)
    if setup is None:
        return
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    scratch = memo.with_name(f".{memo.name}.{os.getpid()}.tmp")
    try:  # replaces the memo of an earlier setup; a memo that cannot be written only costs the next wait
        scratch.write_text(json.dumps({"setup": setup, "message": message, "date": date}, indent=1))
        os.replace(scratch, memo)
    except OSError:
        scratch.unlink(missing_ok=True)


def cached_remake(target: Path) -> dict | None:
    """The cache entry's ``remade.json`` when the entry is whole: the weights it names by sha256 and the
    record its folder name hashes; None for anything else (a damaged, partial or older entry is re-made)."""
    try:
        how = json.loads((target / "remade.json").read_text())
        if not (isinstance(how, dict) and how.get("generator_sha256") == sha256_file(target / GENERATOR_FILES[0])):
            return None
        digest = record_digest(target / records.RECORD_NAME)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return how if target.name.endswith(f"-{digest}") else None


def generator_dir(run_dir: Path, show_progress: bool = True) -> tuple[Path, dict | None]:
    """The folder to load ``run_dir``'s generator from, and how it was obtained (None: it was kept)."""
    run_dir = Path(run_dir)
    record = records.read_json(run_dir / records.RECORD_NAME)
    if not needs_remake(run_dir, record):
        return run_dir, None
    target = cached_dir(run_dir, record)
    if target.exists():
        how = cached_remake(target)
        if how is not None:
            return target, how
        print(f"note: {target} (a cached re-made generator) is incomplete or damaged; re-making it",
              file=sys.stderr, flush=True)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:  # a file or a link where the folder belongs
            target.unlink()
    check_remakeable(record)
    refuse_known_failure(target)
    from harness.verify import made_with, reference_config

    reference_config(record)  # a config this version cannot rebuild fails here, before training
    seconds = ((record.get("timing") or {}).get("train_seconds")) or 0.0
    print(f"note: {record.get('run_id')}: its generator was not kept (a clone holds records only); re-making it "
          f"by re-running the record's config (its training took {seconds:.0f} s where it was made).{other_vendor_note(record)}",
          file=sys.stderr, flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".remake-", dir=target.parent) as scratch:
        mode = made_with(record)
        if mode == numerics.current_mode():  # this process runs those numerics: no new interpreter
            new_path = Path(_rerun(record, scratch, show_progress))
        else:  # ATen/MKL/oneDNN fix their kernels when torch loads: another mode needs a fresh process
            with numerics.child_environment(mode):  # a process that dies is one line, not a hang or traceback
                new_path = Path(run_in_fresh_processes(_rerun, [(record, scratch, show_progress)], 1,
                                                       [str(record.get("run_id"))])[0])
        new = json.loads(new_path.read_text())
        try:
            check_same_metrics(record, new)
        except BenchError as exc:
            remember_failure(target, str(exc))
            raise
        staging = Path(scratch) / "cached"
        staging.mkdir()
        for name in GENERATOR_FILES:
            if (new_path.parent / name).is_file():
                shutil.copy2(new_path.parent / name, staging / name)
        shutil.copy2(run_dir / records.RECORD_NAME, staging / records.RECORD_NAME)
        how = {"remade": True, "by": "re-running the record's config; final metrics identical to the record's",
               "rerun_run_id": new.get("run_id"), "metrics_compared": [m["name"] for m in record["metrics"]],
               "generator_sha256": sha256_file(staging / GENERATOR_FILES[0])}
        (staging / "remade.json").write_text(json.dumps(how, indent=1))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    return target, how


def check_same_metrics(stored: dict, new: dict) -> None:
    """Every final metric of the record, bit for bit, or a one-line refusal naming the first that moved."""
    by_name = {m["name"]: m["value"] for m in new.get("metrics") or []}
    for m in stored.get("metrics") or []:
        if by_name.get(m["name"]) != m["value"]:
            made = ((stored.get("environment") or {}).get("git") or {}).get("commit", "?")[:12]
            raise BenchError(f"run {stored.get('run_id')}: its re-run gives {m['name']} {by_name.get(m['name'])!r}, "
                             f"the record {m['value']!r}: this version or machine does not reproduce it (made at "
                             f"commit {made}), so its generator cannot be re-made here; re-run it as a new "
                             f"record (bench run --from-record)")


def _rerun(record: dict, scratch: str, show_progress: bool) -> str:
    """The record's run, generator kept, with its thread count (in a process that runs its numerics)."""
    from harness.runner import run
    from harness.seeding import cpu_threads
    from harness.verify import reference_config

    config = reference_config(record)
    with cpu_threads(((record.get("environment") or {}).get("hardware") or {}).get("cpu_threads")):
        return str(run(config, Path(scratch) / "results", show_progress=show_progress, keep_generator=True))
