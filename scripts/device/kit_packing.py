"""What comes back from a device run (issue #20): at most 8 files of at most 16 MiB, so the outputs
go into one tarball and large files into parts, with a manifest of sha256 sums; ``unpack`` joins,
checks and places them here, refusing anything outside the folders a run writes."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

from kit import OUT_FILE_LIMIT, OUT_MAX_FILES, OUT_TOTAL_LIMIT, PART_SIZE, RETURNED_ROOTS, KitError, sha256
from kit_stages import returned

def split_file(path: Path, out_dir: Path, part_size: int = PART_SIZE) -> list[Path]:
    """``path`` as ``<name>.partNN`` files of at most ``part_size`` bytes (one part when it fits)."""
    parts = []
    with open(path, "rb") as f:
        for i in range(10**6):
            chunk = f.read(part_size)
            if not chunk and i:
                break
            part = out_dir / f"{path.name}.part{i:02d}"
            part.write_bytes(chunk)
            parts.append(part)
            if len(chunk) < part_size:
                break
    return parts


def join_parts(parts: list[Path], target: Path, expected_sha256: str) -> Path:
    """Concatenates parts into ``target`` (via a temporary file) and checks the whole file's hash."""
    tmp = target.with_name(target.name + ".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out)
    got = sha256(tmp)
    if got != expected_sha256:
        tmp.unlink()
        raise KitError(f"{target.name}: joined parts have sha256 {got[:12]}..., the manifest says "
                       f"{expected_sha256[:12]}... (a part is missing or damaged)")
    tmp.replace(target)
    return target


def pack(state: Path, out: Path, summary: dict, part_size: int = PART_SIZE) -> dict:
    """Everything in ``state/tree`` as ``results.tar.gz`` (split when large) plus the backbone in parts,
    and ``manifest.json`` saying how to put them back; at most 8 files."""
    out.mkdir(parents=True, exist_ok=True)
    tree = state / "tree"
    files = sorted(f.relative_to(tree) for f in tree.rglob("*") if f.is_file()) if tree.is_dir() else []
    big = [rel for rel in files if rel.suffix == ".safetensors"]
    scratch = state / "pack"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    tarball = scratch / "results.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for rel in files:
            if rel not in big:
                tar.add(tree / rel, arcname=str(rel))
    entries = []
    for source, dest in [(tarball, "results.tar.gz")] + [(tree / rel, str(rel)) for rel in big]:
        parts = split_file(source, out, part_size)
        entries.append({"path": dest, "sha256": sha256(source), "bytes": source.stat().st_size,
                        "parts": [p.name for p in parts], "kind": "tarball" if source == tarball else "file"})
    shutil.rmtree(scratch, ignore_errors=True)
    manifest = {**summary, "files": entries}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    sent = [f for f in out.iterdir() if f.is_file()]
    problems = []
    if len(sent) > OUT_MAX_FILES:
        problems.append(f"{len(sent)} files in $OUT (at most {OUT_MAX_FILES} come back)")
    if any(f.stat().st_size > OUT_FILE_LIMIT for f in sent) or sum(f.stat().st_size for f in sent) > OUT_TOTAL_LIMIT:
        problems.append("a file over 16 MiB or over 64 MiB in all in $OUT")
    if problems:
        manifest["pack_problems"] = problems
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest



def safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Regular files under the returned roots only; anything else in a tarball is refused."""
    members = []
    for m in tar.getmembers():
        rel = Path(m.name)
        if not m.isfile() or rel.is_absolute() or ".." in rel.parts or not returned(rel):
            raise KitError(f"results.tar.gz: refusing member '{m.name}' (not a file under {', '.join(RETURNED_ROOTS)})")
        members.append(m)
    return members


def unpack(came_back: Path, repo: Path, force: bool = False) -> dict:
    """Joins, checks and places what a device run returned; returns the manifest plus what was written."""
    manifest_path = came_back / "manifest.json"
    if not manifest_path.is_file():
        raise KitError(f"{came_back}: no manifest.json (not the output of scripts/device/run)")
    manifest = json.loads(manifest_path.read_text())
    written = []
    scratch = repo / ".device-state" / "unpack"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        for entry in manifest["files"]:
            parts = [came_back / p for p in entry["parts"]]
            missing = [p.name for p in parts if not p.is_file()]
            if missing:
                raise KitError(f"{entry['path']}: missing part(s) {', '.join(missing)}")
            joined = join_parts(parts, scratch / Path(entry["path"]).name, entry["sha256"])
            if entry["kind"] == "tarball":
                with tarfile.open(joined) as tar:
                    for m in safe_members(tar):
                        target = repo / m.name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with tar.extractfile(m) as src, open(target, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                        written.append(m.name)
            else:
                rel = Path(entry["path"])
                if not returned(rel):
                    raise KitError(f"manifest names '{rel}', which is not under {', '.join(RETURNED_ROOTS)}")
                target = repo / rel
                if target.exists() and sha256(target) != entry["sha256"] and not force:
                    raise KitError(f"{rel} exists here with other contents (pass --force to replace it)")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(joined), target)
                written.append(str(rel))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {**manifest, "written": written}
