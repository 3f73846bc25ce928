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
