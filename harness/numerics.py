"""Portable CPU numerics: the same code paths, and so nearly the same floats, on any x86-64 CPU.

On a CPU, PyTorch picks its vectorised kernels (ATen's AVX2 / AVX-512 paths), MKL its BLAS code
paths and oneDNN its convolution kernels by what the processor offers, so a run made on an AMD EPYC
(AVX2) and re-run on an Intel Xeon (AVX-512) sums in another order; a GAN's 20-kimg run then ends
at another FD (here 20.70 vs 17.49, far outside `bench verify`'s 5%). ``BENCH_NUMERICS=portable``
pins all three to code paths every x86-64 CPU runs the same way (ATen's default kernels, MKL's
conditional-numerical-reproducibility COMPATIBLE branch, oneDNN's SSE4.1 kernels), at about twice
the CPU time. Nearly, not always exactly: the Intel Xeon's portable references re-run on an AMD EPYC
end 2.6e-6 apart in FD at their 1-kimg point (precision and recall bit-identical) and 1.2% apart after
20 kimg, a GAN's training amplifying the difference (README, "Records, determinism and crash safety"). The variables must be set before torch is imported: ``bench`` does it first thing
(harness/cli.py), and `bench verify` re-runs each reference in a fresh process with the numerics it
was made with. Records say which numerics and which CPU made them.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator

REQUEST = "BENCH_NUMERICS"  # "portable" | "native" (the default)
PORTABLE_ENV = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41"}
MODES = ("native", "portable")


def apply_request(environ: dict | None = None) -> str:
    """Turn ``BENCH_NUMERICS=portable`` into the library variables (call before importing torch)."""
    environ = os.environ if environ is None else environ
    wanted = environ.get(REQUEST, "native")
    if wanted not in MODES:
        from harness.errors import UsageError

        raise UsageError(f"{REQUEST}={wanted!r}: expected one of {', '.join(MODES)}")
    if wanted == "portable":
        environ.update(PORTABLE_ENV)
    return current_mode(environ)


def current_mode(environ: dict | None = None) -> str:
    """``portable`` when every library variable is set to its portable value, else ``native``."""
    environ = os.environ if environ is None else environ
    return "portable" if all(environ.get(k) == v for k, v in PORTABLE_ENV.items()) else "native"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_capability() -> str:
    """The kernel level ATen dispatches to here (e.g. AVX2, AVX512; DEFAULT in portable numerics)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def native_cpu_capability() -> str:
    """The kernel level a native-numerics process gets here, asked of a fresh interpreter when this one
    runs portable numerics (ATen's level is fixed when torch loads)."""
    if current_mode() == "native":
        return cpu_capability()
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in (*PORTABLE_ENV, REQUEST)}
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.stdout.strip() or "?"


def vendor(model: str) -> str:
    """AMD or Intel (their MKL/oneDNN code paths differ at the same instruction set), else the model."""
    return next((name for name in ("AMD", "Intel") if name.lower() in model.lower()), model or "?")


def native_kind(hardware: dict) -> tuple[str, str] | None:
    """(vendor, ATen capability) a record's native-numerics CPU run was made with; None when portable or
    not recorded (older records), where the CPU does not decide the floats or cannot be told."""
    if hardware.get("numerics") != "native" or not hardware.get("cpu_capability"):
        return None
    return vendor(str(hardware.get("cpu_model") or "")), str(hardware["cpu_capability"])


def this_native_kind() -> tuple[str, str]:
    """This machine's (vendor, ATen capability) under native numerics."""
    return vendor(cpu_model()), native_cpu_capability()


def describe() -> dict:
    """What a record stores: the numerics mode, the CPU and the kernel level ATen dispatches to."""
    return {"numerics": current_mode(), "cpu_model": cpu_model(), "cpu_capability": cpu_capability()}


@contextlib.contextmanager
def child_environment(mode: str) -> Iterator[None]:
    """Within the block, processes started afresh (spawn) get ``mode``'s numerics; restored after."""
    saved = {k: os.environ.get(k) for k in (*PORTABLE_ENV, REQUEST)}
    try:
        for key, value in PORTABLE_ENV.items():
            if mode == "portable":
                os.environ[key] = value
            else:
                os.environ.pop(key, None)
        os.environ[REQUEST] = mode
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
