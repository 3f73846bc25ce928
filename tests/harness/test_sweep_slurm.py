"""`bench sweep --slurm-partition`: done points are not submitted; each job gets its grid point's config."""

import json

import pytest

from harness.sweep import run_point, run_sweep, slurm_submitter


class FakeExecutor:
    def __init__(self, folder):
        self.folder, self.params, self.jobs = folder, {}, []

    def update_parameters(self, **params):
        self.params.update(params)

    def submit(self, fn, *args):
        self.jobs.append((fn, args))
        return type("Job", (), {"job_id": str(len(self.jobs))})()


def test_submits_only_points_without_a_completed_record(tmp_path, tiny_backbone):
    results = tmp_path / "results"
    done = results / "done-run"
    done.mkdir(parents=True)
    from dataclasses import asdict

    from baselines.gan_only import GanOnlyConfig
    from harness.build import configure
    from harness.config import apply_overrides

    made = configure("gan_only", "digits", backbone=str(tiny_backbone), budget_kimg=5.0, seed=0, device="cpu",
                     overrides=["d_width=16"])  # the whole config a run stores; its device is not compared
    config = {**asdict(made), "method_config": asdict(apply_overrides(GanOnlyConfig(), made.method_config)),
              "sweep_overrides": ["d_width=16"]}
    record = {"schema_version": 1, "run_id": "done-run", "method": "gan_only", "dataset": "digits",
              "budget_kimg": 5.0, "seed": 0, "status": "completed", "config": config}
    (done / "record.json").write_text(json.dumps(record))
    other = results / "other-lr"  # the same method, seed and budget, another learning rate: not this grid's point
    other.mkdir()
    (other / "record.json").write_text(json.dumps({**record, "run_id": "other-lr", "seed": 1, "config": {
        **config, "seed": 1, "sweep_overrides": ["d_width=16"], "method_config": {**config["method_config"],
                                                                                 "g_lr": 0.5}}}))
    executors = []
    submit = slurm_submitter("gpu", 30, 2, tmp_path / "logs",
                             executor_factory=lambda folder: executors.append(FakeExecutor(folder)) or executors[-1])
    jobs = run_sweep(["gan_only"], "digits", [5.0], [0, 1], results, ["d_width=16"], "cuda", str(tiny_backbone),
                     show_progress=False, echo=lambda line: None, submit=submit)
    (executor,) = executors
    assert [job.job_id for job in jobs] == ["1"] and executor.folder == tmp_path / "logs"
    assert executor.params["slurm_partition"] == "gpu" and executor.params["timeout_min"] == 30
    assert executor.params["gpus_per_node"] == 2 and executor.params["tasks_per_node"] == 2
    fn, (config, where) = executor.jobs[0]
    assert fn is run_point and where == results
    assert (config.method, config.seed, config.train.budget_kimg, config.device) == ("gan_only", 1, 5.0, "cuda")
    assert config.method_config["d_width"] == "16" and config.sweep_overrides == ["d_width=16"]


def test_missing_submitit_is_a_clear_error(monkeypatch):
    import sys

    from harness.errors import BenchError

    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(BenchError, match="pip install submitit"):
        slurm_submitter("gpu")
