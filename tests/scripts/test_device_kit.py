"""The GPU window's kit (scripts/device, issue #20) without a GPU or a network: prepare's carry list,
size and dependency checks; run's stages, hard limits and continuation on fake stages; packing
into at most 8 files with large files split; unpack joining, checking and placing them.

The full rehearsal (torch 2.11 in a fresh virtual environment, the real stages at tiny sizes) is
`scripts/device/rehearse`; this runs the same `scripts/device/run` with stand-in stage scripts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVICE = ROOT / "scripts" / "device"


def load(name: str):
    """scripts/device/<name>.py (its modules import each other by their plain names)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, DEVICE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it: dataclasses and the sibling imports look it up there
        spec.loader.exec_module(module)
    return sys.modules[name]


kit, kit_stages, kit_packing, kit_transfer = load("kit"), load("kit_stages"), load("kit_packing"), load("kit_transfer")


def fake_wheel(directory: Path, name: str, version: str, requires: list[str]) -> Path:
    """A minimal valid pure-Python wheel with the given Requires-Dist lines."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = directory / f"{dist}-py3-none-any.whl"
    meta = "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}".format(
        name, version, "".join(f"Requires-Dist: {r}\n" for r in requires))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name.replace('-', '_')}/__init__.py", "VALUE = 1\n")
        z.writestr(f"{dist}.dist-info/METADATA", meta)
        z.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}.dist-info/RECORD", "")
    return path


def test_dependency_check_and_stale_versions(tmp_path: Path) -> None:
    a = fake_wheel(tmp_path, "torch-fidelity", "0.4.0", ["numpy", "torch (>=1.11)", "tqdm",
                                                          'pytest>=7 ; extra == "dev"'])
    b = fake_wheel(tmp_path, "clean-fid", "0.1.35", ["torch-fidelity", "no-such-package>=1.0"])
    old = fake_wheel(tmp_path, "submitit", "1.0.0", [])
    assert kit.wheel_requirements(a) == ["numpy", "torch", "tqdm"]  # the extra is skipped
    assert kit.missing_requirements([a, b]) == {b.name: ["no-such-package"]}  # torch-fidelity is carried
    assert kit.stale_wheels([a, b, old]) == [old]


def test_carry_list_and_travel_limit(tmp_path: Path) -> None:
    assert kit.carry_for(["perf"]) == [".device-kit/wheels"]
    assert kit.carry_for(["perf", "fashion"]) == [".device-kit/wheels", ".device-kit/fashion-mnist"]
    (tmp_path / "big.bin").write_bytes(b"x" * 3000)
    (tmp_path / ".device-kit" / "wheels").mkdir(parents=True)
    (tmp_path / ".device-kit" / "wheels" / "w.whl").write_bytes(b"y" * 2000)
    sizes = kit.travel_check(tmp_path, ["big.bin"], [".device-kit/wheels"], limit=6000)
    assert sizes["total_bytes"] == 5000 and sizes["carry_bytes"] == {".device-kit/wheels": 2000}
    with pytest.raises(kit.KitError, match="big.bin"):
        kit.travel_check(tmp_path, ["big.bin"], [".device-kit/wheels"], limit=4000)


def test_split_join_round_trip_and_damage(tmp_path: Path) -> None:
    source = tmp_path / "backbone.safetensors"
    source.write_bytes(os.urandom(250_000))
    (tmp_path / "out").mkdir()
    parts = kit_packing.split_file(source, tmp_path / "out", part_size=100_000)
    assert [p.stat().st_size for p in parts] == [100_000, 100_000, 50_000]
    joined = kit_packing.join_parts(parts, tmp_path / "joined", kit.sha256(source))
    assert joined.read_bytes() == source.read_bytes()
    damaged = parts[1].read_bytes()
    parts[1].write_bytes(damaged[:-1] + bytes([damaged[-1] ^ 0xFF]))  # a changed byte (a 0 was 0 once in 256)
    with pytest.raises(kit.KitError, match="damaged"):
        kit_packing.join_parts(parts, tmp_path / "joined2", kit.sha256(source))
    assert not (tmp_path / "joined2").exists()


def test_stage_limit_failure_and_skip(tmp_path: Path) -> None:
    lines = []
    slow = kit_stages.Stage("slow", [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"], 1.0)
    result = kit_stages.run_stage(slow, tmp_path, lines.append, grace_s=2.0)
    assert result.status == "timeout" and result.seconds < 30 and "started" in lines
    assert kit_stages.run_stage(kit_stages.Stage("bad", [sys.executable, "-c", "raise SystemExit(4)"], 30), tmp_path,
                         lines.append).status == "failed"
    ok = kit_stages.Stage("ok", [sys.executable, "-c", "pass"], 30)
    assert kit_stages.run_stage(ok, tmp_path, lines.append).status == "finished"
    done = kit_stages.Stage("done", ["false"], 30, lambda: True)
    assert kit_stages.run_stage(done, tmp_path, lines.append).status == "skipped (done)"
    # A clean exit that did not make all its results (it stopped at its own deadline) is not finished.
    assert kit_stages.run_stage(kit_stages.Stage("part", [sys.executable, "-c", "pass"], 30, lambda: False), tmp_path,
                                lines.append).status == "incomplete"
    assert kit_stages.run_stage(kit_stages.Stage("late", ["false"], 0), tmp_path, lines.append).status == "skipped (no time)"


def test_unpack_refuses_paths_outside_the_returned_folders(tmp_path: Path) -> None:
    came = tmp_path / "came"
    came.mkdir()
    (tmp_path / "setup.py").write_text("print('not from a run')\n")
    tarball = tmp_path / "results.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "setup.py", arcname="setup.py")
    parts = kit_packing.split_file(tarball, came)
    (came / "manifest.json").write_text(json.dumps({"files": [{"path": "results.tar.gz", "kind": "tarball",
                                                               "sha256": kit.sha256(tarball),
                                                               "parts": [p.name for p in parts]}]}))
    repo = tmp_path / "repo"
    repo.mkdir()
    with pytest.raises(kit.KitError, match="refusing member 'setup.py'"):
        kit_packing.unpack(came, repo)
    assert not (repo / "setup.py").exists()


FAKE_PERF = """
import json, pathlib, sys
out = pathlib.Path(sys.argv[sys.argv.index("--out") + 1]); out.mkdir(parents=True, exist_ok=True)
(out / "gpu_perf.json").write_text(json.dumps({"complete": True, "device_type": "cpu", "argv": sys.argv[1:]}))
"""
FAKE_FASHION = """
import json, os, pathlib, sys, time


def parse_args(argv):  # what scripts/device/kit.py reads to know the stages asked for
    return argv


def stages(args):
    return [("gan_only", 1.0, [])]


if __name__ == "__main__":
    weights = pathlib.Path("harness/backbones/weights/edm-fashion-mnist-32x32-uncond.safetensors")
    if not weights.exists():
        weights.write_bytes(bytes(range(256)) * 1200)  # 300 KiB: split into parts by --part-mib 0.1
        weights.with_suffix(".json").write_text("{}")
    run = pathlib.Path("results/fashion-mnist-gan_only-s0-fake"); run.mkdir(parents=True, exist_ok=True)
    (run / "record.json").write_text("{}"); (run / "generator.safetensors").write_bytes(b"not returned")
    print("fashion argv", sys.argv[1:], flush=True)
    time.sleep(float(os.environ["FAKE_SLEEP"]))
    log = pathlib.Path("results/fashion-mnist-gpu/fake.json"); log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(json.dumps({"device": "cpu", "stages": [
        {"stage": "pretrain", "status": "done"},
        {"stage": "gan_only", "budget_kimg": 1.0, "overrides": [], "status": "completed"},
        {"stage": "report", "status": "done"}]}))
"""


def device_tree(tmp_path: Path) -> Path:
    """A copy of what a call sends, with stand-in stage scripts and one fake carried wheel."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "harness", tree / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "baselines", tree / "baselines", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(DEVICE, tree / "scripts" / "device", ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "scripts" / "gpu_perf.py").write_text(FAKE_PERF)
    (tree / "scripts" / "fashion_mnist_gpu.py").write_text(FAKE_FASHION)
    (tree / ".device-kit" / "wheels").mkdir(parents=True)
    # A stand-in for one carried wheel (the import check needs submitit, which the dev environment may lack).
    fake_wheel(tree / ".device-kit" / "wheels", "submitit", "1.5.4", [])
    return tree


def call(tree: Path, tmp_path: Path, out: str, sleep: float, fashion_minutes: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "FAKE_SLEEP": str(sleep), "BENCH_DEVICE_SITE": str(tmp_path / "site"), "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)  # the run puts the tree and the wheels on it, nothing from here
    return subprocess.run([sys.executable, "scripts/device/run", "--device", "cpu", "--minutes", "4",
                           "--fashion-minutes", str(fashion_minutes), "--pack-seconds", "2", "--part-mib", "0.1",
                           "--out", str(tmp_path / out)],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=300)


def test_run_stops_a_stage_at_its_limit_and_a_repeated_call_continues(tmp_path: Path) -> None:
    tree = device_tree(tmp_path)
    first = call(tree, tmp_path, "out1", sleep=120, fashion_minutes=0.02)
    assert first.returncode == 3, first.stdout[-2000:] + first.stderr[-2000:]
    assert "PENDING: fashion" in first.stdout and (tmp_path / "site" / "submitit").is_dir()
    manifest = json.loads((tmp_path / "out1" / "manifest.json").read_text())
    assert {s["name"]: s["status"] for s in manifest["stages"]}["perf"] == "finished"
    assert {s["name"]: s["status"] for s in manifest["stages"]}["fashion"] == "timeout"

    # The machine stays warm, the tree is laid afresh: outputs come back from .device-state/.
    shutil.rmtree(tree / "results")
    (tree / "harness/backbones/weights/edm-fashion-mnist-32x32-uncond.safetensors").unlink(missing_ok=True)
    second = call(tree, tmp_path, "out2", sleep=0, fashion_minutes=0)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    manifest = json.loads((tmp_path / "out2" / "manifest.json").read_text())
    assert {s["name"]: s["status"] for s in manifest["stages"]} == {"perf": "skipped (done)", "fashion": "finished"}
    sent = sorted(f.name for f in (tmp_path / "out2").iterdir())
    assert len(sent) <= kit.OUT_MAX_FILES and max((tmp_path / "out2" / f).stat().st_size for f in sent) <= 0.1 * kit.MIB
    assert sum(f.startswith("edm-fashion-mnist-32x32-uncond.safetensors.part") for f in sent) == 3

    repo = tmp_path / "here"
    (repo / "results").mkdir(parents=True)
    proc = subprocess.run([sys.executable, str(DEVICE / "unpack"), str(tmp_path / "out2"), "--repo", str(repo)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    backbone = "harness/backbones/weights/edm-fashion-mnist-32x32-uncond.safetensors"
    assert (repo / backbone).read_bytes() == (tree / backbone).read_bytes()
    assert json.loads((repo / "results/perf/gpu_perf.json").read_text())["complete"] is True
    assert (repo / "results/fashion-mnist-gan_only-s0-fake/record.json").is_file()
    assert not (repo / "results/fashion-mnist-gan_only-s0-fake/generator.safetensors").exists()  # git-ignored there
    assert list((repo / "results" / "device").glob("*-run.log"))  # both calls' logs


def test_unpack_cli_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(DEVICE / "unpack"), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1


def test_set_aside_moves_only_what_the_device_does_not_need_and_restores_it(tmp_path: Path) -> None:
    snapshot = "results/tuning/s/reruns/r/snapshots/generator-0000015.000kimg.safetensors"  # a stored run's best
    files = {"tests/data/edm/vectors/a.npz": 3000, str(kit.BACKBONE): 5000, "harness/cli.py": 100, snapshot: 2000,
             "results/r/record.json": 50, "results/r/snapshots/generator-0000015.000kimg.json": 10}
    for name, size in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * size)
    # Fashion-MNIST continues from the backbone, so it stays; perf alone needs neither.
    assert kit.set_aside_candidates(tmp_path, list(files), ["perf", "fashion"]) == ["tests/data/edm/vectors/a.npz",
                                                                                    snapshot]
    aside = kit.set_aside_candidates(tmp_path, list(files), ["perf"])
    assert aside == [str(kit.BACKBONE), "tests/data/edm/vectors/a.npz", snapshot]  # largest first
    kit.set_aside(tmp_path, aside)
    assert not any((tmp_path / f).exists() for f in aside) and (tmp_path / "harness/cli.py").is_file()
    assert kit.travel_check(tmp_path, list(files), [], limit=200)["tree_bytes"] == 160  # records stay
    (tmp_path / "tests/data/edm/vectors/a.npz").write_bytes(b"new")  # a file made here meanwhile wins nothing
    with pytest.raises(kit.KitError, match="in the tree and in"):
        kit.restore_aside(tmp_path)
    (tmp_path / "tests/data/edm/vectors/a.npz").unlink()
    assert sorted(kit.restore_aside(tmp_path)) == sorted(aside)
    assert all((tmp_path / f).stat().st_size == files[f] for f in files)


def fashion_log(repo: Path, name: str, device: str, stages: list[dict]) -> None:
    path = repo / "results" / "fashion-mnist-gpu" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"device": device, "stages": [*stages, {"stage": "report", "status": "done"}]}))


def test_the_fashion_stage_is_done_only_when_logs_hold_every_stage_asked_for(tmp_path: Path) -> None:
    narrow = ["--budgets", "20", "--freeze-levels", "2"]
    wanted = kit.fashion_stages(narrow)
    assert ("gan_only_frozen", 20.0, ("freeze_level=2",)) in wanted and ("teacher", 0.0, ()) in wanted
    assert ("gan_only", 350.0, ()) in kit.fashion_stages([])  # the default grid is 100 and 350 kimg
    rows = [{"stage": m, "budget_kimg": b, "overrides": list(o), "status": "completed"} for m, b, o in sorted(wanted)]
    fashion_log(tmp_path, "1", "cuda", rows[:3])
    fashion_log(tmp_path, "2", "cpu", rows)  # another kind of device does not count
    assert not kit.fashion_finished(tmp_path, "cuda", narrow)
    fashion_log(tmp_path, "3", "cuda", [dict(r, status="failed") for r in rows[3:]])
    assert not kit.fashion_finished(tmp_path, "cuda", narrow)
    fashion_log(tmp_path, "4", "cuda", [dict(r, status="skipped (stored)") for r in rows[3:]])  # a later window
    assert kit.fashion_finished(tmp_path, "cuda", narrow)
    assert not kit.fashion_finished(tmp_path, "cuda", [])  # a 20-kimg window leaves the 100/350 grid to do


def split_kit(repo: Path, part_bytes: int) -> dict:
    """A kit as `prepare --split` leaves it: fake wheel and idx file, the backbone set aside; cut into parts."""
    (repo / kit.WHEELS).mkdir(parents=True)
    fake_wheel(repo / kit.WHEELS, "submitit", "1.5.4", [])
    (repo / kit.FASHION).mkdir(parents=True)
    (repo / kit.FASHION / "train-images-idx3-ubyte.gz").write_bytes(os.urandom(150_000))
    backbone = repo / kit.ASIDE / kit.BACKBONE
    backbone.parent.mkdir(parents=True)
    backbone.write_bytes(os.urandom(200_000))
    os.utime(backbone, (1_700_000_000, 1_700_000_000))
    members = kit_transfer.members_for(repo, ["perf", "fashion"])
    assert set(members) == {str(kit.BACKBONE), f"{kit.WHEELS}/submitit-1.5.4-py3-none-any.whl",
                            f"{kit.FASHION}/train-images-idx3-ubyte.gz"}
    assert members[str(kit.BACKBONE)] == backbone  # taken from where it was set aside
    return kit_transfer.build(repo, members, part_bytes)


def test_a_split_kit_travels_in_parts_and_is_joined_checked_and_placed_on_the_device(tmp_path: Path) -> None:
    here = tmp_path / "here"
    manifest = split_kit(here, part_bytes=120_000)
    parts = [here / kit_transfer.PARTS / p["name"] for p in manifest["parts"]]
    assert len(parts) == -(-manifest["bytes"] // 120_000) >= 3 and all(p.stat().st_size <= 120_000 for p in parts)
    calls = kit_transfer.calls(manifest, "python3 scripts/device/run --minutes 9", 600)
    assert [c["carry"] for c in calls] == [[str(kit_transfer.MANIFEST), str(kit_transfer.PARTS / p.name)] for p in parts]
    assert [c["command"] for c in calls][-2:] == ["python3 scripts/device/run --receive",
                                                  "python3 scripts/device/run --minutes 9"]

    device = tmp_path / "device"
    (device / kit_transfer.PARTS).mkdir(parents=True)
    for carried in calls[0]["carry"] + calls[1]["carry"]:  # the first two calls have come
        shutil.copy(here / carried, device / carried)
    assert kit_transfer.missing(device) == [p.name for p in parts[2:]]
    with pytest.raises(kit.KitError, match="make every call again"):
        kit_transfer.assemble(device)
    for p in parts[2:]:
        shutil.copy(p, device / kit_transfer.PARTS / p.name)
    placed = kit_transfer.assemble(device)
    assert sorted(placed) == sorted(manifest["members"])
    backbone = device / kit.BACKBONE
    assert backbone.read_bytes() == (here / kit.ASIDE / kit.BACKBONE).read_bytes()
    assert backbone.stat().st_mtime == 1_700_000_000  # older than any run: never sent back as an output
    assert kit_transfer.assemble(device) == []  # a repeated call finds it done

    damaged = device / kit_transfer.PARTS / parts[1].name
    damaged.write_bytes(b"\0" + damaged.read_bytes()[1:])
    (device / kit_transfer.EXTRACTED).unlink()
    with pytest.raises(kit.KitError, match="damaged"):
        kit_transfer.assemble(device)


def test_a_split_kit_refuses_members_outside_the_kit_and_the_backbone(tmp_path: Path) -> None:
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "cli.py").write_text("print('replaced')\n")
    kit_transfer.build(tmp_path, {"harness/cli.py": tmp_path / "harness" / "cli.py"}, part_bytes=2 * kit.MIB)
    with pytest.raises(kit.KitError, match="refusing member 'harness/cli.py'"):
        kit_transfer.assemble(tmp_path)


def test_run_joins_a_split_kit_before_installing_its_wheels(tmp_path: Path) -> None:
    tree = device_tree(tmp_path)
    shutil.rmtree(tree / kit.WHEELS)  # the wheels come in the parts
    here = tmp_path / "here"
    manifest = split_kit(here, part_bytes=150_000)
    (tree / kit_transfer.PARTS).mkdir(parents=True)
    shutil.copy(here / kit_transfer.MANIFEST, tree / kit_transfer.MANIFEST)
    first = manifest["parts"][0]["name"]
    shutil.copy(here / kit_transfer.PARTS / first, tree / kit_transfer.PARTS / first)
    env = {**os.environ, "BENCH_DEVICE_SITE": str(tmp_path / "site")}
    env.pop("PYTHONPATH", None)
    receive = subprocess.run([sys.executable, "scripts/device/run", "--receive"], cwd=tree, env=env,
                             capture_output=True, text=True)
    rest = [p["name"] for p in manifest["parts"][1:]]
    assert receive.returncode == 0 and f"still to come: {', '.join(rest)}" in receive.stdout
    early = subprocess.run([sys.executable, "scripts/device/run", "--device", "cpu", "--stages", "perf",
                            "--out", str(tmp_path / "out0")], cwd=tree, env=env, capture_output=True, text=True)
    assert early.returncode == 2 and "kit parts missing on this machine" in early.stderr
    for name in rest:
        shutil.copy(here / kit_transfer.PARTS / name, tree / kit_transfer.PARTS / name)
    done = subprocess.run([sys.executable, "scripts/device/run", "--device", "cpu", "--stages", "perf", "--minutes", "2",
                           "--pack-seconds", "2", "--out", str(tmp_path / "out")], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (tmp_path / "site" / "submitit").is_dir() and (tree / kit.BACKBONE).is_file()
    sent = [f.name for f in (tmp_path / "out").iterdir()]
    assert not any(f.startswith(kit.BACKBONE.name) for f in sent)  # the carried backbone is not an output
