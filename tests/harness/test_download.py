"""Downloads (harness/download.py) without a network: a fake server response. Progress goes to stderr,
a line per 10% in logs (stdout holds a command's results), the file appears only whole and checked."""

from __future__ import annotations

import hashlib
import io

import pytest

from harness import download as dl
from harness.errors import MissingArtefactError


class Response(io.BytesIO):
    def __init__(self, data: bytes, sized: bool):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))} if sized else {}


@pytest.fixture
def online(monkeypatch):
    for name in dl.OFFLINE_ENVS:
        monkeypatch.delenv(name, raising=False)

    def serve(data: bytes, sized: bool = True):
        monkeypatch.setattr(dl.urllib.request, "urlopen", lambda url, timeout: Response(data, sized))
    return serve


def test_a_download_reports_on_stderr_and_lands_whole(online, tmp_path, capsys) -> None:
    data = bytes(range(256)) * (80 * 1024)  # 21 MB: 20 reads of 1 MiB
    online(data)
    path = dl.download("https://example.org/x.bin", tmp_path / "x.bin", "test file", hashlib.sha256(data).hexdigest())
    assert path.read_bytes() == data and [p.name for p in tmp_path.iterdir()] == ["x.bin"]
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 10 and all(line.startswith("downloading x.bin: ") for line in lines)
    assert lines[-1].startswith("downloading x.bin: 21.0 of 21.0 MB, ")


def test_without_a_size_it_reports_every_16_mb(online, tmp_path, capsys) -> None:
    online(b"\0" * (40 << 20), sized=False)
    dl.download("https://example.org/y.bin", tmp_path / "y.bin", "test file")
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == ["downloading y.bin: 16.8 MB", "downloading y.bin: 32.5 MB"]  # 1 MiB reads


def test_a_wrong_checksum_keeps_nothing(online, tmp_path) -> None:
    online(b"not the file")
    with pytest.raises(MissingArtefactError, match="expected " + "0" * 64):
        dl.download("https://example.org/z.bin", tmp_path / "z.bin", "test file", "0" * 64)
    assert list(tmp_path.iterdir()) == []
