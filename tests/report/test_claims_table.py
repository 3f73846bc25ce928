"""The claims table (harness/report/tables/claims.py, rules in harness/report/claims_rules.py) on small
synthetic record sets: every verdict reachable, "not measured" without records, numbers made in
different measurements never compared, random-init runs never mixed with fine-tuned ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.report.inputs import sort_records
from harness.report.published import load_published
from harness.report.spec import Context
from harness.report.tables import claims
from report_fixtures import mismatch_record, run_record, spectrum_record, write_records

CLAIM = {name: i for i, (name, _) in enumerate(claims.CLAIMS)}
_counter = iter(range(100_000))


def runs(method: str, fds: list[float], budget: float = 20.0, num_samples: int | None = None, case: int = 5,
         level: int | None = None, init: str | None = None) -> list[dict]:
    out = []
    for seed, fd in enumerate(fds):
        record = run_record(next(_counter), method=method, case=case, seed=seed, fd=fd, budget_kimg=budget,
                            num_samples=num_samples, freeze_level=level, gpu=False)
        if init:
            record["method_info"]["init"] = init
        out.append(record)
    return out


def cells(records: list[dict]) -> dict[str, claims.Cell]:
    ctx = Context(sort_records(records, Path("/results")), load_published())
    columns = claims.scales(ctx)
    assert len(columns) == 1, columns
    return {name: cell for (name, _), cell in zip(claims.CLAIMS, claims.cells_of(ctx, *columns[0]))}


LOW, HIGH, NEAR = [10.0, 11.0, 12.0], [50.0, 51.0, 52.0], [11.0, 12.0, 13.0]


@pytest.mark.parametrize("d2o, others, expected", [
    (LOW, (HIGH, HIGH, HIGH), "supported"),
    (HIGH, (LOW, LOW, LOW), "not supported"),
    (LOW, (NEAR, HIGH, HIGH), "mixed"),
    ([10.0], (HIGH, HIGH, HIGH), "not measured"),  # one seed has no error bar: it decides nothing
])
def test_claim_2_at_equal_images_reaches_every_verdict(d2o, others, expected):
    records = runs("gan_only", d2o)
    for method, fds in zip(claims.DISTILLATION, others):
        records += runs(method, fds)
    cell = cells(records)["claim 2, equal images"]
    assert cell.verdict == expected and cell.budget_kimg == 20.0
    assert f"D2O {sum(d2o) / len(d2o):.4g}" in cell.numbers and f"n={len(d2o)}" in cell.numbers


def test_numbers_in_different_measurements_are_never_compared():
    records = runs("gan_only", LOW, num_samples=2000) + runs("progressive_distillation", HIGH, num_samples=1000)
    cell = cells(records)["claim 2, equal images"]
    assert cell.verdict == "not measured" and "measured alike" in cell.numbers


def test_a_measurement_with_more_samples_but_fewer_groups_never_hides_a_comparison():
    """All four methods measured at 1,000 samples, only D2O and PD at 2,000: the cell compares all four."""
    records = runs("gan_only", LOW, num_samples=1000)
    for method in claims.DISTILLATION:
        records += runs(method, HIGH, num_samples=1000)
    records += runs("gan_only", HIGH, num_samples=2000) + runs("progressive_distillation", LOW, num_samples=2000)
    cell = cells(records)["claim 2, equal images"]
    assert cell.verdict == "supported" and cell.measurement.num_samples == 1000
    assert all(label in cell.numbers for label in ("PD", "CD", "DMD")), cell.numbers
    # with the other methods at 2,000 samples too, the larger sample decides
    for method in claims.DISTILLATION[1:]:
        records += runs(method, LOW, num_samples=2000)
    cell = cells(records)["claim 2, equal images"]
    assert cell.verdict == "not supported" and cell.measurement.num_samples == 2000


def test_a_verdict_another_measurement_reverses_is_shown_beside_it():
    """The same four groups in two feature spaces that disagree: the cell says both, the CSV too."""
    records = runs("gan_only", HIGH, num_samples=1000)
    for method in claims.DISTILLATION:
        records += runs(method, LOW, num_samples=1000)
    records += runs("gan_only", LOW, num_samples=2000)
    for method in claims.DISTILLATION:
        records += runs(method, HIGH, num_samples=2000)
    cell = cells(records)["claim 2, equal images"]
    assert cell.verdict == "supported" and cell.measurement.num_samples == 2000
    (other,) = cell.dissent
    assert other.verdict == "not supported" and other.measurement.num_samples == 1000
    assert f"(in [{other.measurement.id}]: not supported: D2O 51" in cell.text()
    ctx = Context(sort_records(records, Path("/results")), load_published())
    row = next(r for r in claims.SPEC.document(ctx).csv_rows if r["claim"] == "claim 2, equal images")
    assert row["verdict"] == "supported" and row["other_measurements"].startswith(f"[{other.measurement.id}] not")
    agreeing = runs("gan_only", LOW, num_samples=500)
    for method in claims.DISTILLATION:
        agreeing += runs(method, HIGH, num_samples=500)
    assert len(cells(records + agreeing)["claim 2, equal images"].dissent) == 1  # an agreeing one adds nothing


def test_without_records_every_claim_is_not_measured_and_the_table_says_what_to_run():
    got = cells(runs("teacher", [5.0]))
    assert {c.verdict for c in got.values()} == {"not measured"}
    ctx = Context(sort_records([], Path("/results")), load_published())
    doc = claims.SPEC.document(ctx)
    assert doc.csv_rows == [] and "no stored records yet" in doc.sections[0].notes[-1]


def test_dmd_with_its_gan_term_is_a_group_of_its_own_never_averaged_with_dmd():
    """DMD2-style with and without its GAN term are two recipes: each is compared with D2O on its own."""
    with_gan = runs("dmd", LOW) + runs("dmd", LOW, budget=15.0)  # 15 kimg x 4.8 passes: within D2O's 20 x 4
    for record in with_gan:
        record["method_info"].update({"gan": True, "gan_weight": 0.003})
    records = runs("gan_only", NEAR) + runs("dmd", HIGH) + runs("dmd", HIGH, budget=15.0) + with_gan
    for claim in ("claim 2, equal images", "claim 2, equal compute"):
        cell = cells(records)[claim]
        assert cell.verdict == "mixed", (claim, cell.numbers)  # ahead of DMD, behind DMD with its GAN term
        assert "n=6" not in cell.numbers and "with its GAN term, weight 0.003) 11 ± 1 (n=3)" in cell.numbers


def test_equal_compute_compares_each_distillation_method_within_d2o_s_passes():
    # D2O 20 kimg x 4 passes = 80; PD at 20 kimg costs 100 (too much), at 10 kimg 50: the 10 kimg runs count.
    records = runs("gan_only", LOW) + runs("progressive_distillation", LOW, budget=20.0) + \
        runs("progressive_distillation", HIGH, budget=10.0)
    cell = cells(records)["claim 2, equal compute"]
    assert cell.verdict == "supported" and "PD 10 kimg x 5" in cell.numbers
    assert cells(records)["claim 2, equal images"].verdict == "mixed"  # level with PD at 20 kimg


@pytest.mark.parametrize("levels, expected", [
    ({1: NEAR}, "supported"),  # within the error bars
    ({1: [8.0, 9.0, 10.0], 2: NEAR}, "supported"),  # gains, and loses little
    ({1: HIGH, 2: HIGH}, "not supported"),
    ({1: NEAR, 3: HIGH}, "mixed"),
])
def test_claim_3_freezing_loses_little(levels, expected):
    records = runs("gan_only", LOW)
    for level, fds in levels.items():
        records += runs("gan_only_frozen", fds, level=level)
    assert cells(records)["claim 3"].verdict == expected


@pytest.mark.parametrize("random, expected", [(HIGH, "supported"), (LOW, "mixed"), ([1.0, 2.0, 3.0], "not supported")])
def test_thesis_compares_pretrained_with_random_init_and_keeps_them_apart(random, expected):
    records = runs("gan_only", LOW) + runs("gan_only", random, init="random") + runs("dmd", HIGH)
    got = cells(records)
    assert got["thesis"].verdict == expected and "(random init, not pre-trained)" in got["thesis"].numbers
    assert got["claim 2, equal images"].verdict == "supported"  # the random-init runs are not D2O's
    assert "random init" not in got["claim 2, equal images"].numbers


def analyses(kind: str, values: list[tuple[float, float]]) -> list[dict]:
    out = []
    for i, (ours, theirs) in enumerate(values):
        if kind == "mismatch":
            record = mismatch_record(i)
            record["results"]["student_vs_data"] = ours
            for row in record["results"]["teacher"]:
                row["teacher_vs_student"] = theirs + row["steps"]
        else:
            record = spectrum_record(i)
            for band in ("low", "mid", "high"):
                record["band_errors"]["after"][band], record["band_errors"]["teacher"][band] = ours, theirs
        record["seed"] = i
        out.append(record)
    return out


@pytest.mark.parametrize("kind, claim", [("mismatch", "claim 1"), ("spectrum", "claim 4")])
@pytest.mark.parametrize("values, expected", [
    ([(1.0, 20.0), (2.0, 21.0)], "supported"),
    ([(40.0, 1.0), (41.0, 2.0)], "not supported"),
    ([(1.0, 20.0)], "not measured"),
])
def test_claims_1_and_4_read_the_analyses(kind, claim, values, expected):
    assert cells(analyses(kind, values))[claim].verdict == expected


def test_one_column_per_dataset_and_backbone():
    small = runs("gan_only", LOW, case=6)
    for record in small:
        record["backbone"]["name"] = "edm-fashion-mnist-32x32-uncond-small"
    ctx = Context(sort_records(runs("gan_only", LOW, case=6) + small + runs("gan_only", LOW), Path("/r")),
                  load_published())
    assert claims.scales(ctx) == [("digits", "edm-digits-8x8-uncond"),
                                  ("fashion-mnist", "edm-fashion-mnist-32x32-uncond"),
                                  ("fashion-mnist", "edm-fashion-mnist-32x32-uncond-small")]
    doc = claims.SPEC.document(ctx)
    assert len(doc.sections[0].header) == 4 and len(doc.csv_rows) == 3 * len(claims.CLAIMS)


def early_stopped_runs(fds: list[float], full_kimg: float = 50.0, early_kimg: float | None = 10.0,
                       suffix: str = "-10kimg") -> tuple[list[dict], list[dict]]:
    """D2O from a full backbone (its records say ``full_kimg`` of pre-training) and from its recipe stopped
    early (named ``<full><suffix>``, saying ``early_kimg``)."""
    full = runs("gan_only", LOW)
    early = runs("gan_only", fds)
    for record in full:
        record["backbone"]["pretrain_kimg"] = full_kimg
    for record in early:
        record["backbone"]["name"] += suffix
        record["backbone"]["pretrain_kimg"] = early_kimg
    return full, early


@pytest.mark.parametrize("early, expected", [(HIGH, "supported"), (NEAR, "mixed"), ([1.0, 2.0, 3.0], "not supported")])
def test_thesis_takes_an_early_stopped_backbone_into_the_full_one_s_cell(early, expected):
    full, stopped = early_stopped_runs(early)
    got = cells(full + stopped)  # one column: the early-stopped backbone has none of its own
    assert got["thesis"].verdict == expected
    assert "(backbone stopped at 10 kimg)" in got["thesis"].numbers
    assert "stopped" not in got["claim 2, equal images"].numbers  # it is not the full backbone's D2O


def test_an_early_stopped_backbone_joins_every_fuller_backbone_of_its_recipe():
    """<recipe>-10kimg beside <recipe> (50 kimg) and <recipe>-200kimg (the same run continued): two columns,
    each thesis cell holding the 10-kimg runs; <recipe> itself, named without kimg, is never early-stopped."""
    full, stopped = early_stopped_runs(HIGH)
    longer = runs("gan_only", LOW)
    for record in longer:
        record["backbone"]["name"] += "-200kimg"
        record["backbone"]["pretrain_kimg"] = 200.0
    ctx = Context(sort_records(full + stopped + longer, Path("/results")), load_published())
    columns = claims.scales(ctx)
    assert [b for _, b in columns] == [full[0]["backbone"]["name"], longer[0]["backbone"]["name"]]
    for column in columns:
        thesis = claims.cells_of(ctx, *column)[CLAIM["thesis"]]
        assert "(backbone stopped at 10 kimg)" in thesis.numbers, column


@pytest.mark.parametrize("full_kimg, early_kimg, suffix", [(50.0, 80.0, "-10kimg"), (50.0, None, "-10kimg"),
                                                           (50.0, 10.0, "other")])
def test_a_backbone_is_early_stopped_only_by_name_and_by_its_records(full_kimg, early_kimg, suffix):
    """More pre-training, none recorded, or another name: a scale of its own, never in the thesis cell."""
    full, other = early_stopped_runs(HIGH, full_kimg, early_kimg, suffix)
    ctx = Context(sort_records(full + other, Path("/results")), load_published())
    columns = claims.scales(ctx)
    assert len(columns) == 2
    thesis = claims.cells_of(ctx, *columns[0])[CLAIM["thesis"]]
    assert thesis.verdict == "not measured" and "stopped" not in thesis.numbers


def tuned_study(results: Path, method: str, fds: list[float], backbone: str | None = None) -> list[dict]:
    """A `bench tune` study of ``method`` whose best trial (0) was re-run on seeds 0.. with ``fds``, stored
    in the layout harness/tuning/summary.py reads; ``backbone`` renames the re-runs' backbone."""
    study = results / "tuning" / f"digits-{method}-5kimg"
    reruns = runs(method, fds)
    for record in reruns:
        record["config"] = {"tags": {"study": study.name, "role": "rerun", "from_trial": 0}}
        if backbone:
            record["backbone"]["name"] = backbone
    write_records(study / "reruns", reruns)
    (study / "study.json").write_text(json.dumps({"settings": {"method": method, "budget_kimg": 5.0},
                                                  "best": {"number": 0}, "trials": []}))
    return reruns


@pytest.mark.parametrize("d2o, others, expected", [(LOW, HIGH, "supported"), (HIGH, LOW, "not supported")])
def test_claim_2_after_equal_tuning_compares_the_studies_reruns_only(tmp_path, d2o, others, expected):
    results = tmp_path / "results"
    defaults = runs("gan_only", others) + [r for m in claims.DISTILLATION for r in runs(m, d2o)]  # the other way round
    write_records(results, defaults)
    tuned_study(results, "gan_only", d2o)
    for method in claims.DISTILLATION:
        tuned_study(results, method, others)
    ctx = Context(sort_records(defaults, results), load_published())
    (column,) = claims.scales(ctx)
    cell = dict(zip((n for n, _ in claims.CLAIMS), claims.cells_of(ctx, *column)))["claim 2, after equal tuning"]
    assert cell.verdict == expected and cell.budget_kimg == 20.0
    assert f"D2O tuned {sum(d2o) / 3:.4g}" in cell.numbers and "CD tuned" in cell.numbers
    assert "PD tuned" in cell.numbers and "DMD2-style tuned" in cell.numbers
    assert cells(defaults)["claim 2, equal images"].verdict != expected, "the default runs point the other way"


def test_claim_2_after_equal_tuning_is_decided_in_the_reruns_evaluations_with_more_samples(tmp_path):
    """`bench eval` records of the re-runs (more samples, the other verdict): they decide, the re-runs' own
    measurement is shown beside them."""
    results, evaluations = tmp_path / "results", []
    for method, fds, again in [("gan_only", HIGH, LOW)] + [(m, LOW, HIGH) for m in claims.DISTILLATION]:
        for rerun, measured in zip(tuned_study(results, method, fds), runs(method, again, num_samples=5000)):
            evaluations.append({**measured, "evaluation": {"evaluation_of": rerun["run_id"]}})
    defaults = runs("gan_only", NEAR)
    write_records(results, evaluations + defaults)
    ctx = Context(sort_records(evaluations + defaults, results), load_published())
    assert [r.run_id for r in ctx.inputs.runs] == [r["run_id"] for r in defaults], "re-runs' evaluations are not runs"
    cell = dict(zip((n for n, _ in claims.CLAIMS), claims.cells_of(ctx, *claims.scales(ctx)[0])))
    tuned = cell["claim 2, after equal tuning"]
    assert tuned.verdict == "supported" and tuned.measurement.num_samples == 5000, tuned.text()
    (other,) = tuned.dissent
    assert other.verdict == "not supported" and other.measurement.num_samples != 5000


def test_claim_2_after_equal_tuning_ignores_studies_of_another_backbone(tmp_path):
    results = tmp_path / "results"
    write_records(results, runs("gan_only", LOW))
    tuned_study(results, "gan_only", LOW)
    tuned_study(results, "progressive_distillation", HIGH, backbone="another-backbone")
    ctx = Context(sort_records(runs("gan_only", LOW), results), load_published())
    cell = dict(zip((n for n, _ in claims.CLAIMS), claims.cells_of(ctx, *claims.scales(ctx)[0])))
    assert cell["claim 2, after equal tuning"].verdict == "not measured"
