"""Resumable pre-training (harness/pretrain_state.py): a run continued from its state, or extended to
more images, equals one uninterrupted run bit for bit on a CPU; a state that does not fit is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.config import apply_overrides
from harness.data import make_dataset
from harness.errors import UsageError
from harness.pretrain import PretrainConfig, pretrain, resolve_network
from harness.pretrain_state import state_path_for

from helpers import run_bench, run_main_in_process

CPU = torch.device("cpu")


def tiny_data() -> object:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=generator)
    return make_dataset("toy", images, torch.zeros(40, dtype=torch.int64), 10, "random")


def tiny_config(kimg: float, **changes) -> PretrainConfig:
    network = {"class_name": "EDMPrecond", "init_kwargs": {
        "img_resolution": 8, "img_channels": 1, "label_dim": 0, "model_type": "SongUNet", "model_channels": 8,
        "channel_mult": [1, 1], "num_blocks": 1, "attn_resolutions": [], "dropout": 0.1}}  # dropout: the global RNG
    cfg = apply_overrides(PretrainConfig(), {"kimg": kimg, "batch_size": 16, "lr_rampup_kimg": 0.05,
                                             "ema_halflife_kimg": 0.05, "network": network,
                                             "checkpoint_kimg": 0.032, **changes})
    return resolve_network(cfg)


def weights(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_continued_and_extended_runs_equal_one_uninterrupted_run(tmp_path: Path) -> None:
    data = tiny_data()
    whole, whole_facts = pretrain(data, tiny_config(0.128), 0, CPU, False, state_path=tmp_path / "a.state")
    # 48 images (3 steps, state at 32), then extended to 128 from the state written at the end.
    pretrain(data, tiny_config(0.048), 0, CPU, False, state_path=tmp_path / "b.state")
    torch.manual_seed(123)  # a different global RNG state must not matter: the state restores it
    extended, facts = pretrain(data, tiny_config(0.128), 0, CPU, False, state_path=tmp_path / "b.state", resume=True)
    assert facts["images_seen"] == whole_facts["images_seen"] == 128 and facts["steps"] == 8
    a, b = weights(whole), weights(extended)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert facts["final_loss_per_pixel"] == whole_facts["final_loss_per_pixel"]
    # A run that did not restore the state would differ (the check above can fail).
    fresh, _ = pretrain(data, tiny_config(0.080), 0, CPU, False)
    assert not all(torch.equal(a[k], v) for k, v in weights(fresh).items())


def test_a_run_killed_after_a_periodic_state_continues_to_the_same_weights(tmp_path: Path, monkeypatch) -> None:
    import harness.pretrain_state as module

    data = tiny_data()
    whole, _ = pretrain(data, tiny_config(0.096), 0, CPU, False)
    real_save, saves = module.save_pretrain_state, []

    def save_then_die(*args, **kwargs):  # the process dies right after the state at 32 images is written
        real_save(*args, **kwargs)
        saves.append(args[-1]["seen"])
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "save_pretrain_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pretrain(data, tiny_config(0.096), 0, CPU, False, state_path=tmp_path / "k.state")
    assert saves == [32] and module.ACTIVE == [tmp_path / "k.state"]
    monkeypatch.setattr(module, "save_pretrain_state", real_save)
    continued, facts = pretrain(data, tiny_config(0.096), 0, CPU, False, state_path=tmp_path / "k.state", resume=True)
    assert facts["images_seen"] == 96
    a, b = weights(whole), weights(continued)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_state_from_other_settings_is_refused(tmp_path: Path) -> None:
    data, state = tiny_data(), tmp_path / "s.state"
    pretrain(data, tiny_config(0.032), 0, CPU, False, state_path=state)
    with pytest.raises(UsageError, match="other settings .*lr"):
        pretrain(data, tiny_config(0.064, lr=5e-4), 0, CPU, False, state_path=state, resume=True)
    with pytest.raises(UsageError, match="another --seed"):
        pretrain(data, tiny_config(0.064), 1, CPU, False, state_path=state, resume=True)
    with pytest.raises(UsageError, match="no pre-training state"):
        pretrain(data, tiny_config(0.064), 0, CPU, False, state_path=tmp_path / "none.state", resume=True)


def test_cli_keeps_the_state_and_resume_extends_the_run(tmp_path: Path) -> None:
    """The first call starts the real executable (its log must show the card's FD phases, minutes on a
    CPU at full size); the rest call its function in this process."""
    out = tmp_path / "digits.safetensors"
    tiny = ["--set", "model_channels=8", "--set", "channel_mult=1,1", "--set", "num_blocks=1", "--set",
            "attn_resolutions=", "--set", "fd_samples=20", "--set", "batch_size=16"]
    first = run_bench(*["pretrain", "--dataset", "digits", "--out", str(out), "--kimg", "0.032", *tiny])
    assert first.returncode == 0, first.stderr
    for phase in ("card: 35-NFE teacher samples for its FD: 20/20", "card: one step samples for its FD: 20/20"):
        assert phase in first.stderr, first.stderr
    assert state_path_for(out).is_file()
    tiny.append("--quiet")
    again = run_main_in_process(*["pretrain", "--dataset", "digits", "--out", str(out), "--kimg", "0.064", *tiny])
    assert again.returncode == 2 and "--resume" in again.stderr and "Traceback" not in again.stderr
    other = run_main_in_process(*["pretrain", "--dataset", "digits", "--out", str(out), "--kimg", "0.064",
                                  "--resume", "--set", "lr=0.5", *tiny])
    assert other.returncode == 2 and "other settings (lr)" in other.stderr
    extended = run_main_in_process(*["pretrain", "--dataset", "digits", "--out", str(out), "--kimg", "0.064",
                                     "--resume", *tiny])
    assert extended.returncode == 0, extended.stderr
    import json

    card = json.loads(out.with_suffix(".json").read_text())
    assert card["images_seen"] == 64 and card["steps"] == 4
    # Both sittings are named, oldest first; the refused calls trained nothing and are not.
    assert [("--resume" in c, "--kimg 0.032" in c) for c in card["made_by_all"]] == [(False, True), (True, False)]
    assert card["made_by"] == card["made_by_all"][-1]
