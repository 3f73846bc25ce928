"""How many CPU threads torch uses, chosen from the cores that are free now (issue #26).

torch starts one OpenMP thread per core, and OpenMP threads spin while they wait for work. On a
2-core machine that other jobs keep busy, the two threads then fight those jobs for the cores: the
digits quick start took 10 min 28 s instead of ~20 s, and ran ~7x faster with one thread. So, unless
the user says otherwise (``--threads N``, else ``OMP_NUM_THREADS``), a command uses as many threads
as cores are idle over a short look at ``/proc/stat`` (Linux; elsewhere the 1-minute load average),
at least one, and, when other work keeps a core busy, OpenMP's waiting threads sleep instead of
spinning (``OMP_WAIT_POLICY=PASSIVE``, set before torch loads its OpenMP runtime, unless the user set
it; on a quiet machine spinning is faster). The choice is said on the console
and stored in every record (``environment.hardware.cpu_threads`` and ``cpu_threads_policy``).

Thread count changes the order of floating-point reductions on CPU, so records are bit-identical
for the same seed *and* the same thread count (`bench verify` and `--resume` reuse the stored count).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable

WAIT_POLICY = "OMP_WAIT_POLICY"
SAMPLE_SECONDS = 0.25  # the look at /proc/stat: long enough to see a busy core, short beside any run
_CHOSEN: list["ThreadChoice"] = []  # this process's choice, for the record's environment block


@dataclass(frozen=True)
class ThreadChoice:
    count: int
    source: str  # "--threads" | "OMP_NUM_THREADS" | "free cores"
    cores: int  # cores this process may run on (its CPU affinity)
    busy: float | None  # cores other processes kept busy when measured (None: not measured)
    wait_policy: str | None  # OMP_WAIT_POLICY as torch's OpenMP runtime read it

    def describe(self) -> str:
        if self.source == "free cores":
            why = f"{self.busy:.1f} of {self.cores} cores busy with other work"
        else:
            why = f"set by {self.source}"
        policy = f", OpenMP wait {self.wait_policy.lower()}" if self.wait_policy else ""
        hint = "" if self.source == "--threads" else "; override with --threads N"
        return f"threads: {self.count} ({why}{policy}{hint})"

    def as_record(self) -> dict:
        return asdict(self)


def usable_cores() -> list[int]:
    """The CPUs this process may run on (a container's or taskset's limit, not the machine's count)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return list(range(os.cpu_count() or 1))


def _cpu_times(cpus: list[int]) -> dict[int, tuple[int, int]] | None:
    """(busy, total) jiffies per CPU from /proc/stat; None where there is no /proc."""
    try:
        lines = open("/proc/stat", encoding="ascii").read().splitlines()
    except OSError:
        return None
    times = {}
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            values = [int(v) for v in fields[:8]]
            idle = values[3] + values[4]  # idle + iowait
            times[int(name[3:])] = (sum(values) - idle, sum(values))
    return times or None


def busy_cores(cpus: list[int], seconds: float = SAMPLE_SECONDS) -> float:
    """How many of ``cpus`` other processes keep busy: measured over ``seconds`` (this process sleeps
    meanwhile), else the 1-minute load average capped at the core count."""
    before = _cpu_times(cpus)
    if before is not None:
        time.sleep(seconds)
        after = _cpu_times(cpus) or {}
        busy = 0.0
        for cpu, (b0, t0) in before.items():
            b1, t1 = after.get(cpu, (b0, t0))
            busy += (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
        return busy
    try:
        return min(float(len(cpus)), os.getloadavg()[0])
    except OSError:  # pragma: no cover - no load average either
        return 0.0


# No CPU bench runs on has more; beyond it OpenMP allocates per thread until it crashes (100,000 did).
MAX_THREADS = 1024


def free_core_count(cores: int, busy: float) -> int:
    """Idle cores, at least one; a core counts as busy once more than half of it is used."""
    return max(1, min(cores, cores - int(busy + 0.5)))


def choose(requested: int | None = None, environ: dict | None = None,
           measure: Callable[[list[int]], float] = busy_cores) -> ThreadChoice:
    """The thread count for this command: ``--threads``, else ``OMP_NUM_THREADS``, else the free cores."""
    from harness.errors import UsageError

    environ = os.environ if environ is None else environ
    cpus = usable_cores()
    wait = environ.get(WAIT_POLICY) or None
    if requested is not None:
        if not 1 <= requested <= MAX_THREADS:
            raise UsageError(f"--threads {requested}: give a whole number from 1 to {MAX_THREADS}")
        return ThreadChoice(int(requested), "--threads", len(cpus), None, wait)
    omp = environ.get("OMP_NUM_THREADS", "").strip()
    if omp:
        if not omp.isdigit() or not 1 <= int(omp) <= MAX_THREADS:
            raise UsageError(f"OMP_NUM_THREADS={omp!r}: give a whole number from 1 to {MAX_THREADS} (or unset it)")
        return ThreadChoice(int(omp), "OMP_NUM_THREADS", len(cpus), None, wait)
    busy = _LOOK.pop() if _LOOK and measure is busy_cores else measure(cpus)  # one look per command
    return ThreadChoice(free_core_count(len(cpus), busy), "free cores", len(cpus), round(busy, 2), wait)


COMPUTE_COMMANDS = {"run", "eval", "sweep", "tune", "pretrain", "sample", "analyze", "verify", "refstats"}
# Commands that may re-run or continue a stored run with the thread count its record states, whatever
# --threads or OMP_NUM_THREADS say (bit for bit needs that count): verify's re-runs, a generator re-made
# for eval / sample / analyze, a tune trial resumed, `run --resume`. Their one thread is no promise.
RECORD_COUNT_COMMANDS = {"verify", "eval", "sample", "analyze", "tune"}
_LOOK: list[float] = []  # busy cores seen before torch loaded (the wait policy's look), reused by ``choose``


def prefer_passive_wait(environ: dict | None = None, argv: list[str] | None = None,
                        measure: Callable[[list[int]], float] = busy_cores, torch_loaded: bool | None = None) -> None:
    """Sleeping, not spinning, OpenMP waits when other work keeps a core busy; only before torch is
    imported (its runtime reads this once). Spinning threads fight that work (the 10-minute quick
    start), but on a quiet machine they are what makes two threads pay: the quick start's 5 kimg trained
    in 7.4 s with two spinning threads and in 16.5 s with two sleeping ones
    (tests/benchmarks/test_thread_policy.py, 2026-12-05). So a command that computes (``argv``) looks
    at the cores first; the user's own OMP_WAIT_POLICY always stands. With torch already loaded (a
    second command in one process, as the tests run many) the runtime has read it: no look then
    (``torch_loaded`` None: whether this process has imported torch)."""
    environ = os.environ if environ is None else environ
    torch_loaded = "torch" in sys.modules if torch_loaded is None else torch_loaded
    _LOOK.clear()  # an earlier command's look is not this one's
    if torch_loaded or environ.get(WAIT_POLICY, "").strip():
        return
    computes = argv is None or any(arg in COMPUTE_COMMANDS for arg in argv[1:3])
    if not computes or (_one_thread(environ, argv or []) and not _may_take_a_records_count(argv or [])):
        return  # one thread has no waiting threads
    busy = measure(usable_cores())
    _LOOK[:] = [busy]
    if busy >= 0.5:  # as free_core_count counts a core busy
        environ[WAIT_POLICY] = "PASSIVE"
    else:
        environ.pop(WAIT_POLICY, None)  # unset or blank: OpenMP's own default, spinning


def _may_take_a_records_count(argv: list[str]) -> bool:
    """Whether the command may run at a stored record's thread count (``RECORD_COUNT_COMMANDS``): with
    OMP_NUM_THREADS=1 and a two-thread reference, `bench verify` on a busy machine spun 8x slower."""
    return any(arg in RECORD_COUNT_COMMANDS for arg in argv[1:3]) or any(
        arg == "--resume" or arg.startswith("--resume=") for arg in argv)


def _one_thread(environ: dict, argv: list[str]) -> bool:
    given = [a.split("=", 1)[1] for a in argv if a.startswith("--threads=")]
    given += [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--threads"]
    count = given[-1] if given else environ.get("OMP_NUM_THREADS", "")
    return count.strip() == "1"


def apply(requested: int | None = None, echo: Callable[[str], None] | None = None) -> ThreadChoice:
    """Choose, set torch's intra-op thread count, say it, and remember it for the record."""
    import torch

    choice = choose(requested)
    torch.set_num_threads(choice.count)
    _CHOSEN[:] = [choice]
    if echo is not None and choice.source == "free cores":  # a count the user set is theirs; the summary shows it
        echo(choice.describe())
    return choice


def chosen_policy() -> dict | None:
    """How this process chose its thread count (None when no command chose one, e.g. a library call)."""
    return _CHOSEN[0].as_record() if _CHOSEN else None
