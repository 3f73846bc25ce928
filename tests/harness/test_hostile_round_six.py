"""Hostile input, round six: hand-edited `bench verify` references (tracebacks, and a hang on a thread
count OpenMP cannot start), extreme stored values in `bench report`, `--out` on the results folder,
16-bit images and an unused `--ref` in `bench eval`. The sweep's done check: test_sweep_slurm.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.errors import BenchError

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "results" / "digits-gan_only-s0-20261204-202829-380cc527" / "record.json"


def edited_reference(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "refs" / "digits-gan_only-s0-ref"
    folder.mkdir(parents=True)
    record = json.loads(REFERENCE.read_text())
    edit(record)
    (folder / "record.json").write_text(json.dumps(record))
    return tmp_path / "refs"


def set_path(record: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for key in parents:
        record = record[key]
    record[last] = value


@pytest.mark.parametrize("edit, message", [
    (lambda r: set_path(r, "reference", True), "its reference is True, not an object"),
    (lambda r: r.pop("environment"), "it lacks environment.hardware.device"),
    (lambda r: set_path(r, "environment.hardware.cpu_threads", "abc"), "its environment.hardware.cpu_threads is 'abc', not a whole number"),
    (lambda r: set_path(r, "environment.hardware.cpu_threads", 100000), "from 1 to 1024"),  # hung verify for good
    (lambda r: r["curve"]["points"][0].update(kimg="0.25"), r"its curve.points\[0\].kimg is '0.25', not a number"),
    (lambda r: r["curve"]["points"][0].update(kimg=None), "a curve point's kimg is not a number"),
    (lambda r: r["metrics"][0].pop("name"), "a stored metric has no name"),
])
def test_a_hand_edited_reference_is_one_line_before_any_rerun(edit, message, tmp_path):
    from harness.verify import verify_references

    with pytest.raises(BenchError, match=message):
        verify_references(edited_reference(tmp_path, edit), until_kimg=5)


IMPOSSIBLE_FDS = {"huge": (1e308, "which no metric takes"), "infinite": (float("inf"), "which no metric takes"),
                  "negative": (-3.0, "a Fréchet distance is never negative"),
                  "text": ("12", "its metrics[0].value is '12', not a number")}


def test_report_leaves_out_a_record_with_an_impossible_fd(tmp_path):
    """A stored FD of 1e308 crashed `bench report` in matplotlib after it had rewritten one_step.*;
    a negative one was tabulated. Each is now one 'not used' line, and the report is complete."""
    from harness.report import build_report

    results = tmp_path / "results"
    shutil.copytree(REFERENCE.parent, results / REFERENCE.parent.name)
    for name, (value, _) in IMPOSSIBLE_FDS.items():
        edited = json.loads(REFERENCE.read_text())
        edited["run_id"] += f"-{name}"
        edited["metrics"][0]["value"] = value
        (results / name).mkdir()
        (results / name / "record.json").write_text(json.dumps(edited))
    written, problems = build_report(results, tmp_path / "tables")
    assert (tmp_path / "tables" / "index.html") in written and len(problems) == len(IMPOSSIBLE_FDS)
    for name, (_, why) in IMPOSSIBLE_FDS.items():
        assert [p for p in problems if f"{name}/record.json" in p and why in p], (name, problems)
    stored_fd = json.loads(REFERENCE.read_text())["metrics"][0]["value"]
    assert f",{stored_fd!r}," in (tmp_path / "tables" / "one_step.csv").read_text()  # the stored run's alone


def test_report_refuses_to_write_into_the_results_folder(tmp_path):
    from helpers import run_main_in_process, snapshot

    results = tmp_path / "results"
    shutil.copytree(REFERENCE.parent, results / REFERENCE.parent.name)
    before = snapshot(results)
    done = run_main_in_process("report", "--results", str(results), "--out", str(results / "." / ""))
    assert done.returncode == 2 and "is the results folder" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert snapshot(results) == before


def test_eval_refuses_16_bit_images_and_a_ref_no_metric_reads(tmp_path):
    """16-bit PNGs were clipped to 255 by PIL's 'L' conversion without a word; `--ref` with `--metric fd`
    was ignored. Both are one line, before anything is written."""
    import numpy as np
    from PIL import Image

    from helpers import run_main_in_process

    folder = tmp_path / "wide"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8), 1000 * (i + 1), np.uint16)).save(folder / f"{i}.png")
    assert Image.open(folder / "0.png").mode.startswith("I")
    done = run_main_in_process("eval", "--samples", str(folder), "--dataset", "digits", "--metric", "fd",
                               "--results", str(tmp_path / "r"), "--quiet")
    assert done.returncode == 1 and "(16- or 32-bit); bench reads 8-bit images" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1 and not (tmp_path / "r").exists()

    np.savez(tmp_path / "ref.npz", mu=np.zeros(4), sigma=np.eye(4))
    done = run_main_in_process("eval", "--samples", str(folder), "--dataset", "digits", "--metric", "fd",
                               "--ref", str(tmp_path / "ref.npz"), "--results", str(tmp_path / "r"))
    assert done.returncode == 2 and "only fid reads reference statistics" in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "r").exists()


@pytest.mark.parametrize("edit, said", [(lambda r: r.pop("dataset"), "its dataset None is not its config's 'digits'"),
                                        (lambda r: r.update(method="dmd"), "its method 'dmd' is not its config's"),
                                        (lambda r: r.pop("config"), "not a run record (no config in it)")])
def test_eval_of_a_record_whose_names_are_not_its_configs(edit, said, tmp_path):
    """A record without its dataset said "unknown dataset 'None'"; one whose method or dataset is not
    its config's would be measured as the one and rebuilt as the other."""
    from helpers import run_main_in_process

    run = edited_reference(tmp_path, edit) / "digits-gan_only-s0-ref"
    done = run_main_in_process("eval", "--checkpoint", str(run), "--metric", "fd", "--results", str(tmp_path / "r"))
    assert done.returncode == 2 and said in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "r").exists()
