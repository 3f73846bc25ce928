"""Training curves (harness/curves.py, harness/monitor.py): points during a run, the final point, the
best snapshot, and that measuring them changes nothing about what is trained."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.curves import CurveSchedule, best_point
from harness.config import EvalConfig
from harness.runner import configure, run
from harness.seeding import cpu_threads

OVERRIDES = ["train.batch_size=32", "eval.batch_size=100", "d_width=16"]


def tiny(backbone: Path, budget: float, every: float | None, method: str = "gan_only", extra=(), samples: int = 100,
         curve_samples: int | None = None):
    overrides = (OVERRIDES if method == "gan_only" else ["train.batch_size=32", "eval.batch_size=100"]) + list(extra)
    return configure(method, "digits", backbone=str(backbone), budget_kimg=budget, seed=1, device="cpu",
                     overrides=overrides, num_samples=samples, eval_every_kimg=every, eval_curve_samples=curve_samples)


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def values(metrics: list[dict]) -> list[tuple[str, float]]:
    return [(m["name"], m["value"]) for m in metrics]


def test_schedule_targets_lie_inside_the_run():
    schedule = CurveSchedule.from_config(EvalConfig(every_kimg=5, at_kimg=(1.0, 2.0, 25.0)), 20)
    assert schedule.targets() == [1000, 2000, 5000, 10000, 15000]
    assert schedule.due(4990, 5120) == [5000] and schedule.due(5120, 5248) == []
    assert not CurveSchedule.from_config(EvalConfig(every_kimg=250), 20).active  # the end alone is no curve


def test_best_point_is_the_lowest_fd_of_one_measurement():
    def point(value, samples=100, final=False):
        return {"kimg": value, "images_seen": int(value), "final": final, "metrics": [
            {"name": "fd", "value": value, "extractor": "x", "implementation": "own", "num_samples": samples,
             "reference": {"id": "r"}}]}

    points = [point(30.0), point(10.0), point(5.0, samples=50), point(20.0, final=True)]
    best = best_point(points)
    assert best["index"] == 1 and best["value"] == 10.0 and not best["final"]  # the 50-sample point is not compared
    assert best_point([{"kimg": 1, "images_seen": 1, "final": True, "metrics": []}]) is None


def test_curve_points_do_not_change_the_run(tiny_backbone, tmp_path):
    """Four points at 0.125..0.5 kimg; the final point is what a run without points gives, and the
    0.25 kimg point is what a 0.25 kimg run ends with (gan_only's schedule does not depend on the budget)."""
    seen = []
    with cpu_threads(1):
        curved = read(run(tiny(tiny_backbone, 0.5, 0.125), tmp_path / "a", show_progress=False,
                          on_curve_point=seen.append))
        plain = read(run(tiny(tiny_backbone, 0.5, 0), tmp_path / "b", show_progress=False))
        half = read(run(tiny(tiny_backbone, 0.25, 0), tmp_path / "c", show_progress=False))
    points = curved["curve"]["points"]
    assert [p["kimg"] for p in points] == [0.125, 0.25, 0.375, 0.5]
    assert [p["images_seen"] for p in points] == [128, 256, 384, 512] and [p["final"] for p in points] == [False] * 3 + [True]
    assert points[-1]["metrics"] == curved["metrics"]
    assert values(curved["metrics"]) == values(plain["metrics"]), "measuring curve points perturbed training"
    assert values(points[1]["metrics"]) == values(half["metrics"])
    assert "curve" not in plain and "curve" not in half
    fds = [p["metrics"][0]["value"] for p in points]
    assert curved["best_snapshot"]["value"] == min(fds) and curved["best_snapshot"]["metric"] == "fd"
    assert seen == points, "the callback sees every point as it is stored"
    m = points[0]["metrics"][0]
    assert m["num_samples"] == 100 and m["extractor"] == "digits-classifier" and m["reference"]["sha256"]
    timing = curved["timing"]
    assert timing["curve_eval_seconds"] > 0 and timing["eval_seconds"] == pytest.approx(
        timing["curve_eval_seconds"] + timing["final_eval_seconds"])
    assert points[1]["train_seconds"] <= points[2]["train_seconds"] <= timing["train_seconds"]
    assert curved["curve"]["schedule_depends_on_budget"] is False


def test_stats_jsonl_and_tensorboard_are_written(tiny_backbone, tmp_path):
    path = run(tiny(tiny_backbone, 0.5, 0.25, extra=["log_every_kimg=0.125", "r1_interval=4"]), tmp_path,
               show_progress=False)
    lines = [json.loads(line) for line in (path.parent / "stats.jsonl").read_text().splitlines()]
    assert [line["progress/images_seen"] for line in lines] == [128, 256, 384, 512]
    for line in lines:
        assert {"loss/loss_g", "loss/loss_d", "grad_norm/generator", "grad_norm/discriminator", "lr/generator",
                "lr/discriminator", "perf/images_per_second"} <= set(line)
        assert line["grad_norm/generator"] > 0 and line["perf/images_per_second"] > 0
    assert any("loss/r1" in line for line in lines), "lazy R1 is logged in the groups that ran it"
    events = list((path.parent / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path.parent / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"loss/loss_g", "curve/fd", "final/fd"} <= set(tags["scalars"])
    assert {"samples/curve", "samples/final"} <= set(tags["images"])
    assert [e.step for e in acc.Scalars("curve/fd")] == [256]


def test_without_tensorboard_the_jsonl_still_appears_and_the_run_says_so_once(tiny_backbone, tmp_path, monkeypatch,
                                                                              capsys):
    import harness.training_log as training_log

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    monkeypatch.setattr(training_log, "_TOLD", [])
    a = run(tiny(tiny_backbone, 0.25, 0), tmp_path, show_progress=False)
    b = run(tiny(tiny_backbone, 0.25, 0), tmp_path, show_progress=False)
    err = capsys.readouterr().err
    assert err.count("pip install tensorboard") == 1
    for path in (a, b):
        assert (path.parent / "stats.jsonl").read_text().strip() and not (path.parent / "tensorboard").exists()


def test_reduced_curve_samples_are_labelled_and_the_final_point_is_full(tiny_backbone, tmp_path):
    record = read(run(tiny(tiny_backbone, 0.5, 0.25, samples=200, curve_samples=100), tmp_path, show_progress=False))
    points = record["curve"]["points"]
    assert [(p["kimg"], p["num_samples"], p["reduced_samples"], p["final"]) for p in points] == [
        (0.25, 100, True, False), (0.5, 100, True, False), (0.5, 200, False, True)]
    assert points[-1]["metrics"] == record["metrics"] and record["curve"]["reduced_samples"] is True
    assert record["best_snapshot"]["num_samples"] == 100 and record["best_snapshot"]["reduced_samples"] is True


def test_progressive_distillation_labels_its_points_as_snapshots(tiny_backbone, tmp_path):
    record = read(run(tiny(tiny_backbone, 0.25, 0.125, method="progressive_distillation",
                           extra=["start_steps=2"]), tmp_path, show_progress=False))
    assert record["curve"]["schedule_depends_on_budget"] is True
    assert "snapshots of the full-budget schedule" in record["curve"]["intermediate_points_are"]


def test_a_callback_can_stop_the_run_and_leave_it_resumable(tiny_backbone, tmp_path):
    class Prune(Exception):
        pass

    def prune(point):
        raise Prune(point["kimg"])

    with pytest.raises(Prune):
        run(tiny(tiny_backbone, 1.0, 0.5, extra=["checkpoint_kimg=0.25"]), tmp_path / "r", show_progress=False,
            on_curve_point=prune)
    run_dir = next((tmp_path / "r").iterdir())
    assert not (run_dir / "record.json").exists() and (run_dir / "checkpoint" / "state.safetensors").is_file()


@pytest.mark.parametrize("flag,value", [("--eval-every-kimg", "-1"), ("--eval-curve-samples", "0"),
                                        ("--eval-curve-samples", "5000")])
def test_bad_curve_flags_are_usage_errors(flag, value, tmp_path):
    from helpers import run_main_in_process  # the entry point's function: no fresh `import torch`

    result = run_main_in_process("run", "--method", "gan_only", "--dataset", "digits", flag, value,
                                 "--results", str(tmp_path))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())


RESUME_ARGS = ["--method", "gan_only", "--dataset", "digits", "--budget-kimg", "0.75", "--seed", "5", "--device", "cpu",
               "--num-samples", "100", "--eval-every-kimg", "0.25", "--set", "train.batch_size=32", "--set",
               "checkpoint_kimg=0.25", "--set", "d_width=16", "--set", "eval.batch_size=100", "--quiet"]


def test_sigkill_then_resume_gives_the_same_curve(tiny_backbone, tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", *RESUME_ARGS, "--backbone",
                             str(tiny_backbone), "--results", str(results)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline, state = time.time() + 600, None
    while time.time() < deadline and proc.poll() is None:  # kill once a checkpoint holds at least one point
        found = list(results.glob("*/checkpoint/state.safetensors"))
        if found and (found[0].parent.parent / "stats.jsonl").is_file():
            from harness.checkpoint import load_state

            try:
                if load_state(found[0])[1].get("curve"):
                    state = found[0]
                    break
            except Exception:  # caught mid-replace: look again
                pass
        time.sleep(0.05)
    assert state is not None, f"no checkpoint with a curve point appeared: {proc.communicate()[1].decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_dir = state.parent.parent
    assert not (run_dir / "record.json").exists(), "the run finished before it was killed; make it longer"

    from harness.runner import resume

    resumed = read(resume(run_dir.name, results, show_progress=False))
    config = configure("gan_only", "digits", backbone=str(tiny_backbone), budget_kimg=0.75, seed=5, device="cpu",
                       overrides=["train.batch_size=32", "checkpoint_kimg=0.25", "d_width=16", "eval.batch_size=100"],
                       num_samples=100, eval_every_kimg=0.25)
    with cpu_threads(1):
        straight = read(run(config, tmp_path / "straight", show_progress=False))
    shape = lambda r: [(p["kimg"], p["images_seen"], p["final"], values(p["metrics"]))  # noqa: E731
                       for p in r["curve"]["points"]]
    assert shape(resumed) == shape(straight) and len(shape(resumed)) == 3
    assert resumed["best_snapshot"] == straight["best_snapshot"]
    assert values(resumed["metrics"]) == values(straight["metrics"]), "the record an uninterrupted run gets"
    assert resumed["status"] == "completed" and resumed["training"]["images_seen"] == 768
    assert resumed["environment"]["hardware"]["cpu_threads"] == 1, "resume runs with the killed run's threads"
    logged = [json.loads(line)["progress/images_seen"] for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert logged == sorted(set(logged)) and logged[-1] == 768, "no stats line is lost or written twice"


def test_a_failed_run_keeps_the_points_measured_before_it_diverged(tiny_backbone, tmp_path, monkeypatch):
    import torch

    from baselines.gan_only import GanOnly

    original = GanOnly.train_step

    def poisoned(self, real, labels, step, rng):
        losses = original(self, real, labels, step, rng)
        if step == 19:  # the 20th step: 640 images, after the 0.25 and 0.5 kimg points
            losses["loss_g"] = torch.tensor(float("nan"))
        return losses

    monkeypatch.setattr(GanOnly, "train_step", poisoned)
    record = read(run(tiny(tiny_backbone, 1.0, 0.25), tmp_path, show_progress=False))
    assert record["status"] == "failed" and record["failure"]["step"] == 20
    assert [p["kimg"] for p in record["curve"]["points"]] == [0.25, 0.5]
    assert record["best_snapshot"]["kimg"] in (0.25, 0.5) and record["metrics"] == []


def test_point_fd_finds_the_frechet_distance_of_a_point():
    from harness.curves import point_fd

    fd = {"name": "fd", "value": 3.5}
    assert point_fd({"metrics": [{"name": "precision", "value": 0.5}, fd]}) == fd
    assert point_fd({"metrics": [{"name": "precision", "value": 0.5}]}) is None
