"""`bench refstats` refuses a batch size below 1 and a --subset too small for FID (or empty, reversed, or
beyond the data) with one line naming the option (exit 2), before any feature is computed or file written."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import invoke_bench


@pytest.fixture
def no_features(monkeypatch):
    """No Inception network is needed to refuse input, and computing features is the work that must not start."""
    import harness.metrics.dataset_statistics as statistics
    import harness.metrics.inception as inception

    def started(*args, **kwargs):
        raise AssertionError("features were computed before the input was refused")

    monkeypatch.setattr(inception, "resolve_inception_weights", lambda *args: Path("unused.pth"))
    monkeypatch.setattr(inception, "InceptionExtractor", lambda *args, **kwargs: object())
    monkeypatch.setattr(statistics, "dataset_statistics", started)


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "error: --batch-size must be at least 1, got 0"),
    (["--batch-size", "-1"], "error: --batch-size must be at least 1, got -1"),
    (["--subset", "0:1"], "error: --subset 0:1 is one image (START:STOP is half-open); FID statistics need at least 2"),
    (["--subset", "5:3"], "error: --subset 5:3: expected START:STOP with 0 <= START < STOP"),
    (["--subset", "0:0"], "error: --subset 0:0: expected START:STOP with 0 <= START < STOP"),
    (["--subset", "-1:5"], "error: --subset -1:5: expected START:STOP with 0 <= START < STOP"),
    (["--subset", "0:999999999999999999999"], "outside digits's 0:1797"),  # the dataset's real size
])
def test_bad_batch_size_and_subset_are_refused_before_work(args, message, no_features, tmp_path, monkeypatch, capsys):
    out = tmp_path / "rs.npz"
    code, stdout, err = invoke_bench(monkeypatch, capsys, "refstats", "--dataset", "digits", "--out", str(out),
                                     "--quiet", *args)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert "1099511627776" not in err and stdout == "" and list(tmp_path.iterdir()) == []


def test_a_loaded_set_of_one_image_is_refused():
    import torch

    from harness.data import make_dataset
    from harness.errors import UsageError
    from harness.refstats_command import check_images

    one = make_dataset("mine", torch.zeros(1, 1, 8, 8), torch.zeros(1), 0, "a test")
    with pytest.raises(UsageError, match="dataset mine has 1 image"):
        check_images(one)
