"""Disk errors as one line naming the file and the space it needed; temporary files removed."""

from __future__ import annotations

import errno

import pytest

from harness.errors import BenchError
from harness.storage import DiskError, disk_errors, remove_stale_temporaries


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "no space left on the device"),
                                         (errno.EROFS, "the file system is read-only"),
                                         (errno.EDQUOT, "the disk quota is exhausted")])
def test_disk_errors_become_one_line_and_remove_the_temporary(tmp_path, code, words) -> None:
    target, tmp = tmp_path / "state.safetensors", tmp_path / ".state.safetensors.1.tmp"
    with pytest.raises(DiskError) as caught:
        with disk_errors("the checkpoint", target, 7_800_000, "; free space", temporary=tmp):
            tmp.write_bytes(b"half")
            raise OSError(code, "os words")
    message = str(caught.value)
    assert message.startswith(f"could not write the checkpoint {target}: {words} (it needs 7.8 MB, ")
    assert message.endswith("free); free space") and "\n" not in message
    assert not tmp.exists() and isinstance(caught.value, BenchError)


def test_safetensors_errors_are_read_for_their_os_code(tmp_path) -> None:
    class SafetensorError(Exception):
        pass

    with pytest.raises(DiskError, match="no space left on the device"):
        with disk_errors("the feature cache", tmp_path / "f.safetensors", 10):
            raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space" })')


def test_other_errors_pass_through_unchanged(tmp_path) -> None:
    with pytest.raises(PermissionError):
        with disk_errors("the record", tmp_path / "record.json"):
            raise PermissionError(errno.EACCES, "denied")
    with pytest.raises(ValueError):
        with disk_errors("the record", tmp_path / "record.json"):
            raise ValueError("not a disk problem")


def test_stale_temporaries_of_dead_processes_are_removed_live_ones_kept(tmp_path) -> None:
    import os

    dead, live = tmp_path / ".state.safetensors.4000000.tmp", tmp_path / f".state.safetensors.{os.getppid()}.tmp"
    dead.write_bytes(b"x")
    live.write_bytes(b"x")
    remove_stale_temporaries(tmp_path, "state.safetensors")
    assert not dead.exists() and live.exists()
