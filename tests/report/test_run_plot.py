"""`bench report --run`: R1 and PD's round are not drawn as losses, every panel has a y label, the loss
scale is stated from the run's own config, and the heading names method, dataset, budget and seed."""

from __future__ import annotations

from pathlib import Path

from harness.report.run_plot import loss_scale, panels_for, round_starts, run_heading

GAN_RECORD = {"method": "gan_only", "dataset": "digits", "budget_kimg": 20.0, "seed": 2,
              "config": {"method_config": {"gan_loss_images": 64}}, "method_info": {}}


def stats(i: int, **extra) -> dict:
    return {"x": 1000 * i, "loss/loss_d": 88.0, "loss/loss_g": 44.0, "grad_norm/generator": 3.0 / i,
            "lr/generator": 5e-4, "perf/images_per_second": 500.0, **extra}


def test_r1_gets_its_own_log_panel_and_the_loss_axis_states_its_scale():
    lines = [stats(1), stats(2, **{"loss/r1": 2e-3}), stats(3, **{"loss/r1": 1e-3})]
    panels = {title: (ylabel, series, log_y) for title, ylabel, series, log_y in panels_for(lines, GAN_RECORD)}
    losses = next(v for t, v in panels.items() if t.startswith("losses"))
    r1 = next(v for t, v in panels.items() if t.startswith("R1"))
    assert set(losses[1]) == {"loss_d", "loss_g"} and not losses[2] and losses[0] == "loss (64 x batch mean)"
    assert set(r1[1]) == {"r1"} and r1[2] and len(r1[1]["r1"]) == 2
    assert all(ylabel for ylabel, _, _ in panels.values())
    assert "64 x the batch mean" in loss_scale(GAN_RECORD)
    assert run_heading(Path("r"), GAN_RECORD).endswith("gan_only on digits, budget 20 kimg, seed 2")


def test_pd_round_marks_lines_not_a_loss_and_other_methods_state_their_reduction():
    record = {"method": "progressive_distillation", "method_info": {"round_end_kimg": [5.0, 10.0, 15.0]}}
    lines = [{"x": 1000 * i, "loss/loss": 1.0, "loss/round": float(i // 5)} for i in range(1, 15)]
    losses = panels_for(lines, record)[0]
    assert set(losses[2]) == {"loss"} and round_starts(record) == [5000.0, 10000.0]
    assert "summed over pixels" in loss_scale(record)
    assert "mean over N, C, H, W" in loss_scale({"method": "dmd", "method_info": {"loss_reduction":
                                                                                   "mean over N, C, H, W (DMD2)"}})
    assert "not rescaled" in loss_scale({"method": "my_plugin"})
    assert "squared L2" in loss_scale({"method": "consistency_distillation", "method_info": {"loss": "l2"}})
    assert "pseudo-Huber distance" in loss_scale({"method": "consistency_distillation", "method_info": {}})
