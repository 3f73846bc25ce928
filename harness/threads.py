"""How many CPU threads torch uses, chosen from the cores that are free now (issue #26).

torch starts one OpenMP thread per core, and OpenMP threads spin while they wait for work. On a
2-core machine that other jobs keep busy, the two threads then fight those jobs for the cores: the
digits quick start took 10 min 28 s instead of ~20 s, and ran ~7x faster with one thread. So, unless
the user says otherwise (``--threads N``, else ``OMP_NUM_THREADS``), a command uses as many threads
as cores are idle over a short look at ``/proc/stat`` (Linux; elsewhere the 1-minute load average),
at least one, and OpenMP's waiting threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``,
set before torch loads its OpenMP runtime, unless the user set it). The choice is said on the console
and stored in every record (``environment.hardware.cpu_threads`` and ``cpu_threads_policy``).

Thread count changes the order of floating-point reductions on CPU, so records are bit-identical
for the same seed *and* the same thread count (`bench verify` and `--resume` reuse the stored count).
"""

from __future__ import annotations

import os
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
        if requested < 1:
            raise UsageError(f"--threads {requested}: give a whole number of at least 1")
        return ThreadChoice(int(requested), "--threads", len(cpus), None, wait)
    omp = environ.get("OMP_NUM_THREADS", "").strip()
    if omp:
        if not omp.isdigit() or int(omp) < 1:
            raise UsageError(f"OMP_NUM_THREADS={omp!r}: give a whole number of at least 1 (or unset it)")
        return ThreadChoice(int(omp), "OMP_NUM_THREADS", len(cpus), None, wait)
    busy = measure(cpus)
    return ThreadChoice(free_core_count(len(cpus), busy), "free cores", len(cpus), round(busy, 2), wait)


def prefer_passive_wait(environ: dict | None = None) -> None:
    """Sleeping, not spinning, OpenMP waits; only before torch is imported (its runtime reads this once)."""
    environ = os.environ if environ is None else environ
    if not environ.get(WAIT_POLICY, "").strip():  # unset or empty: OpenMP's own default would spin
        environ[WAIT_POLICY] = "PASSIVE"


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
