"""Resume's refusals and edge cases. A run killed with SIGKILL resuming to the record (and the curve) an
uninterrupted run gets: tests/harness/test_curves.py::test_sigkill_then_resume_gives_the_same_curve."""

from harness.runner import configure, run


def test_resume_of_a_finished_run_is_refused(tiny_backbone, tmp_path):
    import pytest

    from harness.errors import UsageError
    from harness.runner import resume

    config = configure("gan_only", "digits", backbone=str(tiny_backbone), budget_kimg=0.1, seed=0, device="cpu",
                       overrides=["train.batch_size=32", "d_width=16"], num_samples=100)
    path = run(config, tmp_path, show_progress=False)
    before = path.read_bytes()
    with pytest.raises(UsageError, match="has finished already"):
        resume(path.parent.name, tmp_path, show_progress=False)
    assert path.read_bytes() == before


def two_finished_runs(tiny_backbone, tmp_path):
    """Two tiny runs (seeds 0 and 1); the first loses its record, as if killed after its last checkpoint."""
    paths = []
    for seed in (0, 1):
        config = configure("gan_only", "digits", backbone=str(tiny_backbone), budget_kimg=0.1, seed=seed,
                           device="cpu", overrides=["train.batch_size=32", "d_width=16"], num_samples=100)
        paths.append(run(config, tmp_path, show_progress=False).parent)
    (paths[0] / "record.json").unlink()
    return paths


def edit_state(path, **changes):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        meta, tensors = json.loads(f.metadata()["meta"]), {k: f.get_tensor(k) for k in f.keys()}
    for key, value in changes.items():
        if key == "budget_kimg":
            meta["config"]["train"]["budget_kimg"] = value
        else:
            meta[key] = value
    save_file(tensors, str(path), metadata={"meta": json.dumps(meta)})


def test_a_training_state_resumes_only_the_run_that_wrote_it(tiny_backbone, tmp_path):
    """Found by trying: another run's state copied in resumed under this run's name (its method, seed and
    numbers in this run's record), and an edited budget or counter trained on."""
    import shutil

    import pytest

    from harness.errors import BenchError
    from harness.runner import resume

    mine, other = two_finished_runs(tiny_backbone, tmp_path)
    state = mine / "checkpoint" / "state.safetensors"
    own = state.read_bytes()
    shutil.copy(other / "checkpoint" / "state.safetensors", state)
    with pytest.raises(BenchError, match=f"belongs to run {other.name}; it cannot resume run {mine.name}"):
        resume(str(mine), tmp_path, show_progress=False)
    for changes, message in (({"budget_kimg": 1e9}, "other settings than the run started with"),
                             ({"images_seen": -1000}, "counters are out of range"),
                             ({"step": "x"}, "counters are out of range"),
                             ({"cpu_threads": 100000}, "counters are out of range")):
        state.write_bytes(own)
        edit_state(state, **changes)
        with pytest.raises(BenchError, match=message):
            resume(str(mine), tmp_path, show_progress=False)
    assert not (mine / "record.json").exists()
    state.write_bytes(own)  # its own state still finishes the run
    assert resume(str(mine), tmp_path, show_progress=False) == mine / "record.json"


def test_a_generator_copied_in_from_another_run_is_refused(tiny_backbone, tmp_path):
    """`bench eval --checkpoint` and `bench sample` measured another run's generator under this run's id."""
    import shutil

    import pytest

    from harness.build import load_run
    from harness.errors import BenchError
    from harness.runner import resume

    mine, other = two_finished_runs(tiny_backbone, tmp_path)
    resume(str(mine), tmp_path, show_progress=False)
    for name in ("generator.safetensors", "generator.json"):
        shutil.copy(other / name, mine / name)
    with pytest.raises(BenchError, match=f"holds run {other.name}'s generator, not run {mine.name}'s"):
        load_run(mine)


def edit_meta(path, edit) -> None:
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        meta, tensors = json.loads(f.metadata()["meta"]), {k: f.get_tensor(k) for k in f.keys()}
    meta = edit(meta, tensors)
    save_file(tensors, str(path), metadata={"meta": json.dumps(meta)})


def set_lr(meta, tensors):
    meta["optimizers"]["generator"]["param_groups"][0]["lr"] = "x"
    return meta


def shrink_a_moment(meta, tensors):
    import torch

    tensors["optim/generator/0/exp_avg"] = torch.zeros(1)
    return meta


def test_an_edited_training_state_is_one_line_before_any_work(tiny_backbone, tmp_path):
    """Found by a hostile-input hunt: a state whose JSON half had other types (history "x", curve "x",
    a curve point without its seconds, a string lr, metadata [1]) or an optimiser moment of another
    shape ended in a traceback, some after training on and replacing the stored state."""
    import pytest

    from harness.errors import BenchError
    from harness.runner import resume

    mine, _ = two_finished_runs(tiny_backbone, tmp_path)
    state = mine / "checkpoint" / "state.safetensors"
    own = state.read_bytes()
    edits = [(lambda m, t: {**m, "history": "x"}, "loss history is not a list"),
             (lambda m, t: {**m, "curve": "x"}, "curve is not a list of curve points"),
             (lambda m, t: {**m, "curve": [{"kimg": "x"}]}, "curve is not a list of curve points"),
             (lambda m, t: [1], "metadata is not a JSON object"),
             (lambda m, t: {**m, "train_seconds": "x"}, "seconds are not numbers"),
             (lambda m, t: {**m, "optimizers": {"generator": 5}}, "optimizer states are malformed"),
             (set_lr, "hyper-parameters of other types"),
             (shrink_a_moment, r"'optim/generator/0/exp_avg' has shape \[1\]")]
    for edit, message in edits:
        state.write_bytes(own)
        edit_meta(state, edit)
        edited = state.read_bytes()
        with pytest.raises(BenchError, match=message) as refused:
            resume(str(mine), tmp_path, show_progress=False)
        assert "\n" not in str(refused.value) and "does not belong to this run" in str(refused.value)
        assert state.read_bytes() == edited and not (mine / "record.json").exists()
    state.write_bytes(own)
    start = mine / "checkpoint" / "run.json"
    started = start.read_text()
    start.write_text(started.replace('"config": {', '"config": "x", "was": {', 1))
    with pytest.raises(BenchError, match="run.json's config is not a JSON object"):
        resume(str(mine), tmp_path, show_progress=False)
    start.write_text(started)  # its own state still finishes the run
    assert resume(str(mine), tmp_path, show_progress=False) == mine / "record.json"


def test_a_run_with_a_relative_backbone_says_where_to_resume_from(tmp_path, monkeypatch):
    """Found by a hostile-input hunt: resumed from another folder, a run begun with `--backbone bb/x` failed
    with "--backbone bb/x: no such file", a flag the user had not typed."""
    import pytest

    from harness.errors import UsageError
    from harness.runner import resume
    from helpers import write_tiny_backbone

    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_tiny_backbone(start / "bb" / "tiny.safetensors")
    monkeypatch.chdir(start)
    config = configure("gan_only", "digits", backbone="bb/tiny.safetensors", budget_kimg=0.1, seed=0, device="cpu",
                       overrides=["train.batch_size=32", "d_width=16"], num_samples=100)
    run_dir = run(config, tmp_path / "results", show_progress=False).parent
    (run_dir / "record.json").unlink()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(UsageError, match=f"started in {start} with --backbone bb/tiny.safetensors.*cd {start} &&"):
        resume(str(run_dir), tmp_path / "results", show_progress=False)
    monkeypatch.chdir(start)
    assert resume(str(run_dir), tmp_path / "results", show_progress=False) == run_dir / "record.json"
