"""A full disk while a run writes, and a run killed inside its first checkpoint write.

The full disk is a mock of the write (``safetensors.torch.save_file`` as the checkpoint calls it,
raising the OS error ENOSPC after writing part of its temporary file), not a small file system:
the test runs the CLI in-process (``helpers.invoke_bench``) so the mock applies.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from helpers import invoke_bench

ARGS = ["--method", "gan_only", "--dataset", "digits", "--budget-kimg", "0.4", "--seed", "3", "--device", "cpu",
        "--num-samples", "100", "--set", "train.batch_size=32", "--set", "checkpoint_kimg=0.1", "--set", "d_width=16",
        "--set", "eval.batch_size=100", "--quiet"]


def metrics(path: Path) -> list:
    return [(m["name"], m["value"]) for m in json.loads(path.read_text())["metrics"]]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The uninterrupted run each interrupted one must end equal to, once for the module (on the same
    tiny backbone: ``write_tiny_backbone`` is seeded)."""
    from helpers import run_main_in_process, write_tiny_backbone

    root = tmp_path_factory.mktemp("straight")
    done = run_main_in_process("run", *ARGS, "--backbone", str(write_tiny_backbone(root / "tiny.safetensors")),
                               "--results", str(root / "results"))
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip().splitlines()[-1])


def test_full_disk_at_a_checkpoint_is_one_line_keeps_the_last_good_one_and_resumes(
        tiny_backbone, tmp_path, monkeypatch, capsys, straight) -> None:
    import harness.checkpoint as checkpoint

    real_save, calls = checkpoint.save_file, []

    def disk_fills_at_second_checkpoint(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) == 2:
            Path(filename).write_bytes(b"partial")  # what a write cut short leaves
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(checkpoint, "save_file", disk_fills_at_second_checkpoint)
    results = tmp_path / "results"
    code, out, err = invoke_bench(monkeypatch, capsys, "run", *ARGS, "--backbone", str(tiny_backbone),
                                  "--results", str(results))
    assert code == 1 and "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.strip()]
    run_dir = next(results.iterdir())
    assert line.startswith(f"error: could not write the checkpoint {run_dir}/checkpoint/state.safetensors: "
                           f"no space left on the device (it needs ")
    assert "MB" in line and f"the last good checkpoint is kept: free space, then continue with: " \
                            f"bench run --resume {run_dir}" in line
    assert not list(run_dir.rglob("*.tmp")), "the temporary file is removed"
    assert (run_dir / "checkpoint" / "state.safetensors").is_file() and not (run_dir / "record.json").exists()

    monkeypatch.setattr(checkpoint, "save_file", real_save)  # space freed
    code, out, err = invoke_bench(monkeypatch, capsys, "run", "--resume", str(run_dir))
    assert code == 0, err
    resumed = Path(out.strip().splitlines()[-1])
    assert resumed == run_dir / "record.json"
    assert metrics(resumed) == metrics(straight)


def test_full_disk_at_the_record_keeps_the_final_checkpoint_and_resume_finishes(
        tiny_backbone, tmp_path, monkeypatch, capsys, straight) -> None:
    import os

    real_link = os.link

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", full)
    results = tmp_path / "results"
    code, out, err = invoke_bench(monkeypatch, capsys, "run", *ARGS, "--backbone", str(tiny_backbone),
                                  "--results", str(results))
    run_dir = next(results.iterdir())
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "record.json: No space left on device" in err and f"finish with: bench run --resume {run_dir}" in err
    monkeypatch.setattr(os, "link", real_link)
    code, out, err = invoke_bench(monkeypatch, capsys, "run", "--resume", run_dir.name, "--results", str(results),
                                  "--device", "cpu")  # the one run flag a resume honours, and says so
    assert code == 0, err
    assert "note: resuming on --device cpu" in err
    assert metrics(Path(out.strip().splitlines()[-1])) == metrics(straight)


def test_killed_inside_the_first_checkpoint_write_resume_starts_over(
        tiny_backbone, tmp_path, monkeypatch, capsys, straight) -> None:
    """The process dies while writing its first checkpoint: only its temporary file is there. The
    leftover of the dead process is removed, and --resume starts the run over in the same folder."""
    import harness.checkpoint as checkpoint

    real_save = checkpoint.save_file
    dead_pid = 4_000_000  # above Linux's pid_max: no live process has it

    def killed(tensors, filename, metadata=None):
        Path(filename).with_name(f".state.safetensors.{dead_pid}.tmp").write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt  # stands in for the kill: nothing after this line runs

    monkeypatch.setattr(checkpoint, "save_file", killed)
    results = tmp_path / "results"
    code, out, err = invoke_bench(monkeypatch, capsys, "run", *ARGS, "--backbone", str(tiny_backbone),
                                  "--results", str(results))
    assert code == 130
    run_dir = next(results.iterdir())
    assert not (run_dir / "checkpoint" / "state.safetensors").exists()
    monkeypatch.setattr(checkpoint, "save_file", real_save)
    code, out, err = invoke_bench(monkeypatch, capsys, "run", "--resume", str(run_dir))
    assert code == 0, err
    assert "stopped before its first checkpoint was complete; starting it over" in err
    assert not list(run_dir.rglob("*.tmp"))
    assert metrics(run_dir / "record.json") == metrics(straight)
