"""Method labels (harness/report/names.py): a switch in a method's recipe is a row of its own and says so."""

from __future__ import annotations

from pathlib import Path

from harness.report.inputs import sort_records
from harness.report.names import method_label, run_variant
from report_fixtures import run_record


def test_cd_names_its_distance_and_an_l2_run_is_never_called_pseudo_huber():
    def label(loss: str) -> str:
        return method_label("consistency_distillation", variant=run_variant("consistency_distillation", {"loss": loss}))

    assert label("pseudo_huber") == "CD (pseudo-Huber)" and label("l2") == "CD (L2)"
    assert method_label("consistency_distillation") == "CD"  # a study's row: its trials may use either


def test_runs_with_two_cd_distances_are_two_groups():
    records = []
    for i, loss in enumerate(["pseudo_huber", "pseudo_huber", "l2", "l2"]):
        record = run_record(i, method="consistency_distillation", seed=i % 2, fd=10.0 + i)
        record["method_info"]["loss"] = loss
        records.append(record)
    runs = sort_records(records, Path("/results")).runs
    assert sorted({r.label for r in runs}) == ["CD (L2)", "CD (pseudo-Huber)"]
