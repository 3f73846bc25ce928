"""A resumable ``.npz`` export: one shard per batch in a hidden folder beside the file, assembled at the end.

An ADM-format npz (``harness.sample_files``) is one file, so a stopped export would otherwise lose
all of it. `bench sample --out FILE.npz` writes each batch as ``.FILE.npz.parts/part-NNNNNN.npz``
(its pixels, labels and seeds, written atomically), a re-run keeps every shard that loads, passes
its zip CRC and holds exactly the seeds, labels and shape that batch needs (any other shard is
redone, never trusted), and the npz appears only once every shard is there: written under a
temporary name inside the parts folder, renamed, then the folder removed. A killed run therefore
leaves the parts folder and no npz. The folder's ``bench-sample.json`` names the generator; parts
of another generator, or shards no manifest vouches for, are refused unless ``--force``, which
starts over.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.errors import UsageError
from harness.sample_files import MANIFEST, read_manifest, source_text, write_arrays, write_manifest, write_npz


def parts_folder(out: Path) -> Path:
    """``.FILE.npz.parts`` beside ``out`` (hidden, on the same file system for the final rename)."""
    out = Path(out)
    return out.with_name(f".{out.name}.parts")


@dataclass
class Batch:
    index: int
    seeds: list[int]
    labels: list[int] | None  # one per seed for a conditional model


class NpzShards:
    """The batches of one npz export and the shards on disk that hold them."""

    def __init__(self, out: Path, seeds: Sequence[int], labels: Sequence[int] | None, batch_size: int,
                 shape: tuple[int, int, int], manifest: dict[str, Any]):
        self.out, self.folder = Path(out), parts_folder(out)
        self.shape, self.manifest = tuple(shape), manifest
        self.batches = [Batch(i // batch_size, list(seeds[i:i + batch_size]),
                              None if labels is None else list(labels[i:i + batch_size]))
                        for i in range(0, len(seeds), batch_size)]

    def shard(self, batch: Batch) -> Path:
        return self.folder / f"part-{batch.index:06d}.npz"

    def start(self, force: bool) -> list[Batch]:
        """Prepare the folder (refusing another generator's parts, clearing them with ``force``) and
        return the batches still to make."""
        previous = self.folder / MANIFEST
        if self.folder.exists() and force:
            shutil.rmtree(self.folder)
        elif (old := read_manifest(previous)) is not None:
            if old.get("source") != self.manifest["source"]:
                raise UsageError(f"{self.folder} holds the unfinished export of another generator "
                                 f"({source_text(old)}); pass --force to start over, or choose another --out")
        elif self.folder.is_dir() and any(self.folder.glob("part-*.npz")):  # whose shards, nothing says
            raise UsageError(f"{self.folder} holds shards but no {MANIFEST} saying which generator made them; "
                             f"pass --force to start over, or choose another --out")
        self.folder.mkdir(parents=True, exist_ok=True)
        write_manifest(previous, self.manifest)
        return [batch for batch in self.batches if self.read(batch) is None]

    def write(self, batch: Batch, pixels: np.ndarray) -> None:
        arrays = {"arr_0": pixels, "seeds": np.asarray(batch.seeds, dtype=np.int64)}
        if batch.labels is not None:
            arrays["arr_1"] = np.asarray(batch.labels, dtype=np.int64)
        write_arrays(self.shard(batch), arrays)

    def read(self, batch: Batch) -> np.ndarray | None:
        """The shard's pixels when it is complete and holds what ``batch`` needs, else None."""
        path = self.shard(batch)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:  # every entry read whole: the zip CRC is checked
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            return None
        pixels, seeds, labels = arrays.get("arr_0"), arrays.get("seeds"), arrays.get("arr_1")
        expected = set(["arr_0", "seeds"] + (["arr_1"] if batch.labels is not None else []))
        if (set(arrays) != expected or pixels.dtype != np.uint8 or pixels.shape != (len(batch.seeds), *self.shape)
                or seeds.dtype != np.int64 or seeds.tolist() != batch.seeds
                or (labels is not None and (labels.dtype != np.int64 or labels.tolist() != batch.labels))):
            return None
        return pixels

    def assemble(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Every shard into the ADM npz at ``out`` (atomically), then the parts folder removed."""
        pixels = np.empty((sum(len(b.seeds) for b in self.batches), *self.shape), np.uint8)
        row = 0
        for batch in self.batches:
            part = self.read(batch)
            if part is None:  # changed under us since it was written: say so rather than fill a gap
                from harness.errors import BenchError

                raise BenchError(f"{self.shard(batch)} went missing or changed while the export ran; run the "
                                 f"same command again to redo it")
            pixels[row:row + len(part)] = part
            row += len(part)
        labels = None
        if self.batches and self.batches[0].labels is not None:
            labels = np.asarray([label for batch in self.batches for label in batch.labels], dtype=np.int64)
        write_npz(self.out, pixels, labels, scratch=self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)
        return pixels, labels
