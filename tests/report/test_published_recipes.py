"""`bench report` sets a published number only beside runs of its recipe (issue #23 items 13 and 9-10), and
baselines/published.json states the sources' run lengths and citations (items 17-19)."""

from __future__ import annotations

import csv
import io

from harness.report import build_report
from harness.report.published import load_published
from report_fixtures import run_record, write_records

IMAGENET = 4  # report_fixtures.DATASET_CASES index
CIFAR_UNCOND = 0


def with_config(record: dict, method_config: dict, train: dict) -> dict:
    return {**record, "config": {"method_config": method_config, "train": train}}


def one_step_rows(tmp_path, records: list[dict]) -> list[dict]:
    build_report(write_records(tmp_path / "results", records), tmp_path / "out", figures=False)  # tables only
    return list(csv.DictReader(io.StringIO((tmp_path / "out" / "one_step.csv").read_text())))


DMD_NO_GAN = {"gan_weight": 0.0, "g_lr": 2e-6, "fake_lr": 2e-6, "fake_steps_per_generator_step": 5}


def test_dmd_without_gan_stands_beside_dmd2_without_gan_only(tmp_path):
    no_gan = with_config(run_record(1, "dmd", case=IMAGENET, seed=0, fd=3.0, budget_kimg=100.0), DMD_NO_GAN,
                         {"ema_beta": 0.0})
    with_gan = with_config(run_record(2, "dmd", case=IMAGENET, seed=0, fd=2.0, budget_kimg=200.0),
                           {**DMD_NO_GAN, "gan_weight": 3e-3}, {"ema_beta": 0.0})
    rows = [r for r in one_step_rows(tmp_path, [no_gan, with_gan]) if r["dataset"] == "imagenet-64"]
    dmd = {r["budget_kimg"]: r for r in rows if r["bench_method"] == "dmd" and r["reproduced_mean"]}
    assert dmd["100.0"]["reported"] == "2.61" and dmd["100.0"]["reported_entry"] == "imagenet-64/DMD2 (no GAN)/fid"
    assert dmd["200.0"]["reported"] == ""  # bench's GAN variant is not DMD2's recipe: no published number
    shown = {r["reported"] for r in rows if r["bench_method"] == "dmd"}
    assert not shown & {"1.51", "1.28"}  # DMD2's GAN numbers never stand beside a bench dmd run


def test_pd_number_needs_the_references_recipe(tmp_path):
    recipe = {"start_steps": 4096, "lr": 5e-5, "loss_weighting": "truncated_snr", "max_grad_norm": 1.0}
    faithful = with_config(run_record(3, "progressive_distillation", case=CIFAR_UNCOND, seed=0, fd=9.0,
                                      budget_kimg=100.0), recipe, {"ema_beta": 0.0})
    with_ema = with_config(run_record(4, "progressive_distillation", case=CIFAR_UNCOND, seed=0, fd=9.0,
                                      budget_kimg=200.0), recipe, {"ema_beta": None})  # the runner's EMA across rounds
    rows = [r for r in one_step_rows(tmp_path, [faithful, with_ema])
            if r["bench_method"] == "progressive_distillation" and r["reproduced_mean"]]
    by_budget = {r["budget_kimg"]: r["reported"] for r in rows}
    assert by_budget == {"100.0": "8.34", "200.0": ""}


def test_published_numbers_cite_what_the_sources_state():
    data = load_published()
    entries = {e.id: e for e in data.entries}
    dmd_rows = [e for e in data.entries if e.harness_method == "dmd"]
    assert [e.value for e in dmd_rows] == ["2.61"] and dict(dmd_rows[0].recipe)["gan_weight"] == 0.0
    assert entries["imagenet-64/figure-1a/CD"].train_images == 1_200_000_000  # 600k steps x batch 2048
    for key in ("cifar10-uncond/PD/fid", "imagenet-64/PD/fid"):
        assert entries[key].primary == "cm" and "DDPM++" not in entries[key].note
    assert "NCSN++" in entries["cifar10-uncond/PD/fid"].note
    teacher = entries["imagenet-64/EDM teacher/fid"]
    assert teacher.source == "cm" and "Table 2," not in teacher.where
    readme_cd = {e.dataset: (e.value, e.train_images) for e in data.entries if e.method == "CD (D2O README)"}
    assert readme_cd == {"cifar10-uncond": ("4.10", 100_000_000), "imagenet-64": ("6.87", 1_000_000_000)}
