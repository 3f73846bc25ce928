"""`bench run` / `bench eval` end with the record's numbers; `bench runs` lists runs; `bench show` prints one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import invoke_bench, run_bench
from harness.summary import summarize, summary_text

TINY_RUN = ["run", "--method", "gan_only", "--dataset", "digits", "--device", "cpu", "--num-samples", "64",
            "--budget-kimg", "0.032", "--set", "train.batch_size=16", "--set", "d_width=8",
            "--set", "eval.batch_size=64", "--quiet"]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """One tiny gan_only run made through the installed executable (the real entry point, its stdout)."""
    from helpers import write_tiny_backbone

    root = tmp_path_factory.mktemp("summary")
    backbone = write_tiny_backbone(root / "tiny.safetensors")
    proc = run_bench(*TINY_RUN, "--backbone", str(backbone), "--results", str(root / "results"))
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip().splitlines()[-1])
    return {"root": root, "results": root / "results", "path": path, "stdout": proc.stdout,
            "record": json.loads(path.read_text()), "backbone": backbone}


def test_run_ends_with_each_metric_its_features_samples_and_the_path(made: dict) -> None:
    record, lines = made["record"], made["stdout"].strip().splitlines()
    assert lines[-1] == str(made["path"]) and made["path"].is_file()  # scripts read the last line
    assert lines[0].startswith(f"{record['run_id']}: run, completed")
    assert "method gan_only, dataset digits, seed 0, budget 0.032 kimg, NFE 1" in lines[1]
    for metric in record["metrics"]:  # the stored value, in its feature space, with its sample count
        (line,) = [x for x in lines if x.split()[:1] == [metric["name"]]]
        assert f"{metric['value']:.4g}" in line and f"{metric['extractor']} features, 64 samples" in line
    images = record["training"]["images_seen"]
    (train,) = [x for x in lines if x.strip().startswith("training")]
    assert f"{images:,} images in {record['timing']['train_seconds']:,.1f} s" in train and "images/s" in train
    assert any(x.strip().startswith("evaluation") for x in lines)
    assert "1 CPU thread, OMP_NUM_THREADS" in made["stdout"]  # the tests' runs set OMP_NUM_THREADS=1


def test_json_summary_is_the_records_numbers(made: dict, monkeypatch, capsys) -> None:
    code, out, err = invoke_bench(monkeypatch, capsys, "show", str(made["path"].parent), "--json")
    assert code == 0, err
    summary, record = json.loads(out), made["record"]
    assert summary["run_id"] == record["run_id"] and summary["path"] == str(made["path"])
    assert summary["training_images"] == record["training"]["images_seen"] and summary["nfe"] == record["nfe"]
    assert [(m["name"], m["value"], m["feature_space"], m["num_samples"]) for m in summary["metrics"]] == \
        [(m["name"], m["value"], m["extractor"], m["num_samples"]) for m in record["metrics"]]
    assert summary["train_seconds"] == record["timing"]["train_seconds"]
    assert summary["cpu_threads"] == 1 and summary["cpu_threads_source"] == "OMP_NUM_THREADS"


def test_runs_lists_finished_and_unfinished_runs(made: dict, tmp_path: Path, monkeypatch, capsys) -> None:
    results = tmp_path / "results"
    shutil.copytree(made["results"], results)
    stopped = results / "digits-dmd-s3-20260101-000000-deadbeef" / "checkpoint"
    stopped.mkdir(parents=True)  # a run killed before its record: only its start settings
    (stopped / "run.json").write_text(json.dumps({"config": {"method": "dmd", "dataset": "digits", "seed": 3,
                                                             "train": {"budget_kimg": 2.0}}}))
    (results / "broken").mkdir()
    (results / "broken" / "record.json").write_text("{not json")
    code, out, err = invoke_bench(monkeypatch, capsys, "runs", "--results", str(results))
    assert code == 0 and "broken/record.json: unreadable record" in err
    header, rule, *rows = out.strip().splitlines()
    assert header.split() == ["run", "kind", "method", "dataset", "budget", "kimg", "seed", "metrics", "samples",
                              "status"]
    by_id = {row.split()[0]: row for row in rows}
    fd = next(m["value"] for m in made["record"]["metrics"] if m["name"] == "fd")
    finished = by_id[made["record"]["run_id"]]
    counts = sorted({m["num_samples"] for m in made["record"]["metrics"]})
    assert "gan_only" in finished and f"fd {fd:.4g}" in finished and finished.endswith("completed")
    assert f"  {'/'.join(f'{n:,}' for n in counts)}  " in finished  # what each metric was measured on
    unfinished = by_id["digits-dmd-s3-20260101-000000-deadbeef"]
    assert unfinished.split()[2:6] == ["dmd", "digits", "2", "3"]
    assert unfinished.endswith(f"unfinished (bench run --resume digits-dmd-s3-20260101-000000-deadbeef --results "
                               f"{results})")  # the command works as printed

    code, out, _ = invoke_bench(monkeypatch, capsys, "runs", "--results", str(results), "--json")
    assert code == 0 and {r["run_id"] for r in json.loads(out)} == set(by_id)


def test_runs_filters_by_method_dataset_kind_status_and_seeds(made: dict, tmp_path: Path, monkeypatch, capsys) -> None:
    results = tmp_path / "results"
    shutil.copytree(made["results"], results)
    stopped = results / "digits-dmd-s3-20260101-000000-deadbeef" / "checkpoint"
    stopped.mkdir(parents=True)
    (stopped / "run.json").write_text(json.dumps({"config": {"method": "dmd", "dataset": "digits", "seed": 3}}))
    gan_only, dmd = made["record"]["run_id"], "digits-dmd-s3-20260101-000000-deadbeef"

    def listed(*flags: str) -> set[str]:
        code, out, err = invoke_bench(monkeypatch, capsys, "runs", "--results", str(results), "--json", *flags)
        assert code == 0, err
        return {row["run_id"] for row in json.loads(out)}

    assert listed() == {gan_only, dmd}
    assert listed("--method", "dmd") == {dmd} and listed("--method", "dmd,gan_only") == {gan_only, dmd}
    assert listed("--status", "unfinished") == {dmd} and listed("--status", "completed", "--kind", "run") == {gan_only}
    assert listed("--seeds", "0-2") == {gan_only} and listed("--dataset", "digits", "--seeds", "3") == {dmd}
    assert listed("--method", "teacher") == set() and listed("--dataset", "cifar10") == set()  # known, none stored
    code, out, _ = invoke_bench(monkeypatch, capsys, "runs", "--results", str(results), "--method", "teacher")
    assert code == 0 and out.strip() == f"no runs in {results} match --method teacher"
    for flag, typo in (("--method", "gan_onyl"), ("--dataset", "digit"), ("--kind", "evals"), ("--status", "done")):
        code, out, err = invoke_bench(monkeypatch, capsys, "runs", "--results", str(results), flag, typo)
        assert code == 2 and f"{flag} {typo}: no stored run has it, and it is not a" in err and out == "", (flag, err)
        assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["show", "no-such-run"], "no run 'no-such-run' in"),
    (["show", "digits-dmd-s3"], "has no record yet (unfinished); continue it with: bench run --resume"),
    (["runs", "--results", "missing"], "--results missing: no such folder"),
])
def test_show_and_runs_refuse_what_is_not_there_with_one_line(args, message, tmp_path, monkeypatch, capsys) -> None:
    results = tmp_path / "results"
    (results / "digits-dmd-s3-20260101-000000-deadbeef" / "checkpoint").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke_bench(monkeypatch, capsys, *args, *(["--results", str(results)] if args[0] == "show" else []))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_summary_of_an_evaluation_and_of_a_failed_run() -> None:
    evaluation = {"run_id": "e", "status": "completed", "method": "samples", "dataset": "digits", "seed": 0,
                  "budget_kimg": 0.0, "nfe": None, "evaluation": {}, "training": {},
                  "metrics": [{"name": "fid", "value": 12.5, "extractor": "inception-v3", "num_samples": 500}],
                  "timing": {"eval_seconds": 2.0, "train_seconds": 0.0}}
    summary = summarize(evaluation, "r/e/record.json")
    assert summary["kind"] == "eval" and summary["eval_samples_per_second"] == 250.0
    assert "fid" in summary_text(summary) and "inception-v3 features, 500 samples" in summary_text(summary)
    assert "  measured   a folder of images" in summary_text(summary).splitlines()
    of_run = summarize({**evaluation, "evaluation": {"evaluation_of": "digits-gan_only-s0-x"},
                        "training": {"images_seen": 20096}}, "r/e/record.json")
    assert "  measured   run digits-gan_only-s0-x, trained on 20,096 images" in summary_text(of_run).splitlines()
    failed = {**evaluation, "status": "failed", "failure": {"reason": "non-finite loss"}, "metrics": []}
    text = summary_text(summarize(failed, "r/e/record.json"))
    assert "failed (non-finite loss)" in text and "(no metrics in this record)" in text


def test_summary_of_an_analysis_points_to_its_run() -> None:
    analysis = {"run_id": "a", "status": "completed", "method": "gan_only", "dataset": "digits", "seed": 0,
                "budget_kimg": 20.0, "nfe": 1, "analysis": {"teacher_steps": [2, 4]}, "results": {},
                "source_run": {"run_id": "digits-gan_only-s0-x"}, "timing": {"wall_seconds": 31.7}}
    lines = summary_text(summarize(analysis, "r/a/record.json")).splitlines()
    assert lines == ["a: analysis, completed", "  method gan_only, dataset digits, seed 0, budget 20 kimg, NFE 1",
                     "  analysis   of run digits-gan_only-s0-x in 31.7 s; its results: bench report", "r/a/record.json"]


def test_run_json_prints_one_json_object_and_nothing_else(made: dict, tmp_path, monkeypatch, capsys) -> None:
    code, out, err = invoke_bench(monkeypatch, capsys, "run", "--method", "backbone_one_step", "--dataset", "digits",
                                  "--device", "cpu", "--num-samples", "32", "--backbone", str(made["backbone"]),
                                  "--results", str(tmp_path / "r"), "--quiet", "--json")
    assert code == 0, err
    summary = json.loads(out)  # the whole of stdout
    record = json.loads(Path(summary["path"]).read_text())
    assert summary["run_id"] == record["run_id"] and summary["method"] == "backbone_one_step"
    assert [m["value"] for m in summary["metrics"]] == [m["value"] for m in record["metrics"]]
