"""A kit too large for one call (issue #28), sent in parts over several calls to one warm machine.

A call sends the working tree plus its carried paths, 64 MiB at most. The Fashion-MNIST stage needs
the wheels (17 MiB), the idx files (29 MiB) and the 31 MiB GPU backbone on top of a ~35 MiB tree,
so no single call can carry them. But ignored paths left on the machine stay there between calls
while it is warm, and a call removes only the carried paths it names. So ``prepare --split`` packs
those pieces into one uncompressed tar cut into parts that each fit beside the tree, with a
manifest of sha256 sums; call k carries the manifest and part k; the last call's ``run`` joins the
parts, checks them and extracts the tar in place (files keep their mtimes, so the backbone is not
mistaken for an output and sent back). Standard library only, like the rest of the kit.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

from kit import ASIDE, BACKBONE, FASHION, KIT, MIB, WHEELS, KitError, sha256
from kit_packing import join_parts, split_file

PARTS = KIT / "parts"
MANIFEST = PARTS / "manifest.json"
EXTRACTED = KIT / ".extracted"  # on the device: the tar sha256 last extracted (a repeated call skips it)
# Where a part's member may land on the device: the kit's folders and the GPU backbone, nothing else.
ALLOWED = (str(WHEELS) + "/", str(FASHION) + "/")
MARGIN = MIB  # room in each call for the manifest and a few commits' growth of the tree


def members_for(repo: Path, stages: list[str]) -> dict[str, Path]:
    """What the parts carry, as {path on the device: file here}: the wheels always; for the
    Fashion-MNIST stage its idx files and the backbone (set aside into ASIDE by then, or in place)."""
    chosen = {str(w.relative_to(repo)): w for w in sorted((repo / WHEELS).glob("*.whl"))}
    if "fashion" in stages:
        chosen.update({str(f.relative_to(repo)): f for f in sorted((repo / FASHION).glob("*")) if f.is_file()})
        backbone = repo / ASIDE / BACKBONE if (repo / ASIDE / BACKBONE).is_file() else repo / BACKBONE
        if not backbone.is_file():
            raise KitError(f"{BACKBONE}: missing here, and the Fashion-MNIST stage continues from it")
        chosen[str(BACKBONE)] = backbone
    return chosen


def build(repo: Path, members: dict[str, Path], part_bytes: int) -> dict:
    """Writes PARTS/kit.tar.partNN (each at most ``part_bytes``) and the manifest; returns the manifest."""
    if part_bytes < MIB // 16:  # hundreds of calls: not a plan
        raise KitError(f"the tree leaves {max(part_bytes, 0) / MIB:.2f} MiB per call for the kit's parts "
                       "(set more aside, or carry less)")
    folder = repo / PARTS
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    tarball = folder / "kit.tar"
    with tarfile.open(tarball, "w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, source in members.items():
            tar.add(source, arcname=arcname, recursive=False)
    parts = split_file(tarball, folder, part_bytes)
    manifest = {"sha256": sha256(tarball), "bytes": tarball.stat().st_size, "members": list(members),
                "parts": [{"name": p.name, "bytes": p.stat().st_size} for p in parts]}  # the whole tar's hash checks them
    tarball.unlink()
    (repo / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def calls(manifest: dict, last_command: str, timeout_s: int) -> list[dict]:
    """The device tool's calls, in order: each carries the manifest and one part; the last runs the stages."""
    out = []
    for i, part in enumerate(manifest["parts"]):
        last = i == len(manifest["parts"]) - 1
        out.append({"carry": [str(MANIFEST), str(PARTS / part["name"])],
                    "command": last_command if last else "python3 scripts/device/run --receive",
                    "timeout_s": timeout_s if last else 120})
    return out


def missing(repo: Path) -> list[str]:
    """Parts the manifest names that are absent here or not what it says (empty without a manifest)."""
    if not (repo / MANIFEST).is_file():
        return []
    manifest = json.loads((repo / MANIFEST).read_text())
    return [p["name"] for p in manifest["parts"]
            if not (repo / PARTS / p["name"]).is_file() or (repo / PARTS / p["name"]).stat().st_size != p["bytes"]]


def assemble(repo: Path) -> list[str]:
    """On the device: joins the parts, checks the whole, extracts it in place; returns what it placed
    ([] without a manifest, or when this tar was extracted already)."""
    if not (repo / MANIFEST).is_file():
        return []
    manifest = json.loads((repo / MANIFEST).read_text())
    absent = missing(repo)
    if absent:
        raise KitError(f"kit parts missing on this machine: {', '.join(absent)} (each earlier call carries one; "
                       "if the machine went back in between, make every call again from the first)")
    if (repo / EXTRACTED).is_file() and (repo / EXTRACTED).read_text() == manifest["sha256"]:
        return []
    joined = join_parts([repo / PARTS / p["name"] for p in manifest["parts"]], repo / PARTS / "kit.tar",
                        manifest["sha256"])
    placed = []
    try:
        with tarfile.open(joined) as tar:
            for m in tar.getmembers():
                if not m.isfile() or ".." in Path(m.name).parts or not (m.name.startswith(ALLOWED) or m.name == str(BACKBONE)):
                    raise KitError(f"kit.tar: refusing member '{m.name}' (not a wheel, an idx file or the backbone)")
                # Keeps its mtime (older than the run: never sent back). The checks above are what make it
                # safe; the "data" filter (Python >= 3.11.4, 3.12 on the device) is a second guard where it exists.
                tar.extract(m, repo, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
                placed.append(m.name)
    finally:
        joined.unlink(missing_ok=True)
    (repo / EXTRACTED).write_text(manifest["sha256"])
    return placed
