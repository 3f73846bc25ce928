"""Helpers shared by tests in several folders (a plain module: every folder's conftest.py is
imported under the one name ``conftest``, so importing helpers from a conftest is ambiguous)."""

from __future__ import annotations

from pathlib import Path


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


# The CPU threads pytest was started with, before ``one_cpu_thread``: (OMP_NUM_THREADS or None, torch's count).
USER_CPU_THREADS: list[tuple[str | None, int]] = []


def one_cpu_thread() -> None:
    """This test process, and every process it starts, on one CPU thread (tests/conftest.py); what the user
    had is kept in ``USER_CPU_THREADS`` for the benchmarks."""
    import os

    import torch

    if not USER_CPU_THREADS:
        USER_CPU_THREADS.append((os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()))
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def invoke_bench(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the console entry point ``harness.cli.main`` in-process, as the ``bench`` script does."""
    import sys

    from harness.cli import main

    monkeypatch.setattr(sys, "argv", ["bench", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, to show that a failed command changed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def bench_executable() -> str:
    """The installed `bench` console script of the Python running the tests (the entry point a user
    types), never a module run: the point of calling it is to test what `pip install` made."""
    import shutil
    import sys

    beside = Path(sys.executable).with_name("bench")
    found = str(beside) if beside.exists() else shutil.which("bench")
    if found is None:
        raise AssertionError("the `bench` console script is not installed: pip install -e .")
    return found


def run_bench(*args: str, cwd: Path | None = None, timeout: float = 600, **popen) -> "subprocess.CompletedProcess":
    """Run the installed `bench` entry point in a subprocess and capture its status and output."""
    import os
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), **popen.pop("env", {})}
    return subprocess.run([bench_executable(), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, **popen)


def run_main_in_process(*args: str, cwd: Path | None = None, env: dict | None = None) -> "subprocess.CompletedProcess":
    """What `run_bench` does, without a new process: the installed script's function
    (``harness.cli.main``, the entry point pyproject names) with ``sys.argv``, the working folder,
    the environment (``env`` replaces it, as for a subprocess) and stdout/stderr captured, then all
    restored. It saves the ~1.5 s a fresh ``import torch`` costs, so a matrix of many invocations
    stays fast, while a handful of tests still start the real executable (``run_bench``). An
    exception that escapes ``main`` is written out as the interpreter would (a traceback, status 1),
    so a test that forbids tracebacks still catches it.
    """
    import contextlib
    import io
    import os
    import subprocess
    import sys
    import traceback

    import torch

    from harness import threads
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = (dict(os.environ), os.getcwd(), list(sys.argv), torch.get_num_threads())
    code = 0
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        sys.argv = ["bench", *args]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001 - what an uncaught exception does to a process
                traceback.print_exc(file=err)
                code = 1
    finally:
        os.environ.clear()
        os.environ.update(saved[0])
        os.chdir(saved[1])
        sys.argv = saved[2]
        torch.set_num_threads(saved[3])
        threads._CHOSEN.clear()  # a process's thread choice ends with it
    return subprocess.CompletedProcess(["bench", *args], code, out.getvalue(), err.getvalue())


def sigint_at_default() -> None:
    """``preexec_fn`` for a child a test will Ctrl-C: SIGINT at its default, as a shell starts a foreground
    program. A suite started in the background (``cmd &`` in a script) inherits SIGINT ignored, and a
    Python child that starts with it ignored never raises KeyboardInterrupt (found on 2026-12-05)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def tiny_fd_run(root: Path, budget_kimg: float, num_samples: int) -> Path:
    """One tiny completed gan_only run on digits measuring FD only, in ``root/results``: what the
    analyses and their input checks read."""
    from harness.runner import configure, run

    backbone = write_tiny_backbone(Path(root) / "tiny.safetensors")
    config = configure("gan_only", "digits", backbone=str(backbone), budget_kimg=budget_kimg, seed=0, device="cpu",
                       overrides=["train.batch_size=32", "eval.batch_size=100", "d_width=16", "eval.metrics=fd"],
                       num_samples=num_samples)
    return run(config, Path(root) / "results", show_progress=False).parent
