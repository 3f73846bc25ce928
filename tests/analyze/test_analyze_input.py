"""`bench analyze` refuses bad input with one line (exit 2) before the run is loaded, and stores nothing:
every number (samples, seeds, step counts), the device, --results, and --run that is no run folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import invoke_bench, snapshot

MAX_SEED = 2**63 - 1


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One tiny completed gan_only run on digits, alone in its results folder."""
    from helpers import tiny_fd_run

    root = tmp_path_factory.mktemp("analyze-input")
    (root / "a-file").write_text("not a folder")
    return tiny_fd_run(root, 0.032, 16)


@pytest.fixture
def no_work(monkeypatch):
    """Loading the run is where the work starts: a refusal that comes only after it fails the test."""
    def started(*args, **kwargs):
        raise AssertionError("the analysis loaded the run before refusing its input")

    for module in ("harness.analyze.mismatch", "harness.analyze.spectrum"):
        monkeypatch.setattr(f"{module}.load_subject", started)


BAD = [
    (["spectrum", "--first-seed", "-1"], "--first-seed must be at least 0, got -1"),
    (["mismatch", "--first-seed", "-1", "--steps", "2", "--num-samples", "10"], "--first-seed must be at least 0"),
    (["spectrum", "--first-seed", str(MAX_SEED)], "beyond 2^63"),
    (["mismatch", "--first-seed", str(MAX_SEED - 8), "--num-samples", "10", "--steps", "2"], "beyond 2^63"),
    (["mismatch", "--first-seed", str(2**63)], "--first-seed must be below 2^63"),
    (["mismatch", "--steps", "2..100000"], "--steps must be at most 256, got 100000"),
    (["mismatch", "--steps", "2..1" + "0" * 30], "--steps must be at most 256"),  # refused before it is expanded
    (["mismatch", "--steps", "5..3"], "--steps '5..3': no step counts"),
    (["mismatch", "--steps", "0,3"], "--steps must be at least 1, got 0"),
    (["spectrum", "--teacher-steps", "257"], "--teacher-steps must be at most 256, got 257"),
    (["spectrum", "--teacher-steps", "0"], "--teacher-steps must be at least 1, got 0"),
    (["mismatch", "--num-samples", "1"], "--num-samples must be at least 2, got 1"),
    (["spectrum", "--num-samples", "1000001"], "--num-samples must be at most 1000000, got 1000001"),
    (["spectrum", "--device", "tpu"], "unknown device 'tpu'"),
    (["mismatch", "--results", "{root}/a-file"], "--results {root}/a-file: a plain file; expected a results folder"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_numbers_and_names_are_refused_before_the_run_is_loaded(args, message, run_dir, no_work,
                                                                    monkeypatch, capsys):
    results = run_dir.parent
    before = snapshot(results)
    root = str(results.parent)
    command, *rest = [a.format(root=root) for a in args]
    code, out, err = invoke_bench(monkeypatch, capsys, "analyze", command, "--run", str(run_dir), *rest)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert message.format(root=root) in err and out == ""
    assert snapshot(results) == before  # no analysis record


@pytest.mark.parametrize("target, what", [("results", "a folder"), ("results/nope", "nothing (no such file or folder)"),
                                          ("a-file", "a plain file")])
def test_run_that_is_no_run_folder_gets_one_answer_from_both_analyses(target, what, run_dir, monkeypatch, capsys):
    path = run_dir.parent.parent / target
    answers = [invoke_bench(monkeypatch, capsys, "analyze", command, "--run", str(path))
               for command in ("mismatch", "spectrum")]
    assert answers[0] == answers[1]  # one shared check
    expected = f"error: --run {path}: {what}, not a run directory (expected <results>/<run id>/ holding record.json)\n"
    assert answers[0] == (2, "", expected)


def test_seed_and_step_bounds_are_inclusive(run_dir):
    from harness.analyze.common import check_request, parse_steps

    check_request(run_dir, 10, MAX_SEED - 9, None, "cpu")  # the last seed is 2^63 - 1
    assert parse_steps("1..256") == list(range(1, 257)) and parse_steps("256") == [256]
