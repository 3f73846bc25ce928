"""Table (g): the paper's claims (Zheng & Yang, arXiv 2506.09376), one row each, one column per scale.

A scale is a dataset with one backbone (the runs that can be compared: same pre-trained network,
same data); its column says for each claim supported / not supported / mixed / not measured, with
the numbers that decide it and the measurement they were made in (harness/report/claims_rules.py
holds the rules; the caption states them). Every number is read from the stored records; within a
cell all compared values share one measurement (metric, feature network, sample count, reference).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from harness.analyze import MISMATCH_KIND, SPECTRUM_KIND
from harness.report.claims_rules import (LOSES_LITTLE, MIN_SEEDS, NOT_MEASURED, Group, loses_little_outcome,
                                         lower_outcome, passes_per_image, verdict)
from harness.report.inputs import (Analysis, Measurement, Run, dataset_title, fd_entry, fd_values,
                                   group_by, method_label)
from harness.report.formatting import seed_values
from harness.report.names import dataset_key
from harness.report.render import Document, Section
from harness.report.scales import early_stopped, scale_title, scales
from harness.report.spec import Context, TableSpec

DISTILLATION = ("progressive_distillation", "consistency_distillation", "dmd")
GAN = ("gan_only", "gan_only_frozen")
CLAIMS = (
    ("claim 1", "the one-step student does not converge to its teacher: it is clearly closer to the data than to "
                "the teacher at every step count (`bench analyze mismatch`)"),
    ("claim 2, equal images", "GAN fine-tuning alone (D2O) beats every distillation method at the same training "
                              "images"),
    ("claim 2, equal compute", "D2O beats every distillation method at the same compute (backbone-sized forward "
                               "passes, DMD's fake-score updates included)"),
    ("claim 2, after equal tuning", "D2O beats every distillation method at the same training images when each "
                                    "runs the settings its own `bench tune` study chose (same trials and trial "
                                    "budget for every method, trials scored on held-out seeds)"),
    ("claim 3", f"freezing most of the network (D2O-F levels 1-3) loses little (≤ {LOSES_LITTLE:.0%} or within "
                "the error bars) or gains, against D2O"),
    ("claim 4", "after GAN fine-tuning the one-step spectrum is at the teacher's level or closer to the real one in "
                "every frequency band (`bench analyze spectrum`)"),
    ("thesis", "diffusion pre-training is generative pre-training: fine-tuning the pre-trained backbone clearly beats "
               "the same GAN fine-tuning from a random network of its architecture (`--set init=random`) and from "
               "the same recipe stopped early in its pre-training"),
)
CSV_HEADER = ["claim", "dataset", "backbone", "verdict", "budget_kimg", "numbers", "other_measurements",
              "measurement", "metric", "extractor", "extractor_weights_sha256", "implementation", "num_samples",
              "reference", "reference_sha256"]


@dataclass(frozen=True)
class Cell:
    verdict: str
    numbers: str  # what decided it, or why nothing could
    budget_kimg: float | None = None
    measurement: Measurement | None = None
    dissent: tuple[Cell, ...] = ()  # the same groups at the same budget, another measurement, another verdict

    def text(self) -> str:
        where = f"at {self.budget_kimg:g} kimg" if self.budget_kimg is not None else ""
        tag = f" [{self.measurement.id}]" if self.measurement else ""
        other = "".join(f" (in [{c.measurement.id}]: {c.verdict}: {c.numbers})" for c in self.dissent)
        return f"{self.verdict}: " + (f"{where}{tag}: " if where or tag else "") + self.numbers + other


def level(run: Run) -> int | None:
    return (run.freeze_level if run.freeze_level is not None else 1) if run.method == "gan_only_frozen" else None


def groups_in(runs: list[Run], m: Measurement) -> dict[tuple, tuple[Group, list[Run]]]:
    """(method, freeze level, recipe variant, init, budget) -> the group's values in ``m`` (a variant such as
    DMD2's GAN term is a group of its own); snapshot rows of a longer schedule (PD's points before its end)
    are not runs at that budget and are left out."""
    out = {}
    chosen = [r for r in runs if not r.snapshot_of_schedule]
    for key, group in group_by(chosen, lambda r: (r.method, level(r), r.variant, r.init, r.budget_kimg)).items():
        values = tuple(seed_values(group, m))
        if values:
            out[key] = (Group(group[0].label, key[4], values), group)
    return out


def best_cell(candidates: list[tuple[float, int, Cell]]) -> Cell | None:
    """(budget, groups compared, cell) -> the largest budget, then the most groups compared (a measurement
    with more samples but fewer of the groups never hides a comparison), then the most samples: the
    comparison closest to the paper's regime."""
    def key(candidate: tuple[float, int, Cell]) -> tuple:
        m = candidate[2].measurement
        return candidate[0], candidate[1], m.num_samples if m else 0, m.id if m else ""

    if not candidates:
        return None
    best = max(candidates, key=key)
    # A verdict that another feature space reverses is shown with it, never silently dropped.
    dissent = tuple(c for b, n, c in sorted(candidates, key=key, reverse=True) if (b, n) == best[:2]
                    and c.measurement and c.measurement.id != best[2].measurement.id and c.verdict != best[2].verdict)
    return dataclasses.replace(best[2], dissent=dissent)


def compared(ours: Group, others: list[Group], outcome) -> tuple[str, str]:
    outcomes = [outcome(ours, g) for g in others]
    return verdict(outcomes), f"{ours.shown()} vs " + "; ".join(g.shown() for g in others)


def claim2_equal_images(runs: list[Run], measurements: list[Measurement]) -> Cell | None:
    candidates = []
    for m in measurements:
        groups = groups_in(runs, m)
        for (method, _, _, init, budget), (d2o, _) in groups.items():
            if method != "gan_only" or init != "pretrained":
                continue
            others = [g for (mm, _, _, _, b), (g, _) in sorted(groups.items(), key=lambda kv: str(kv[0]))
                      if mm in DISTILLATION and b == budget]
            if others:
                word, text = compared(d2o, others, lower_outcome)
                candidates.append((budget, len(others), Cell(word, text, budget, m)))
    return best_cell(candidates)


def claim2_equal_compute(runs: list[Run], measurements: list[Measurement]) -> Cell | None:
    """D2O at its budget B against each distillation method at its largest budget within D2O's compute."""
    candidates = []
    for m in measurements:
        groups = groups_in(runs, m)
        for (method, _, _, init, budget), (d2o, d2o_runs) in groups.items():
            if method != "gan_only" or init != "pretrained":
                continue
            compute = budget * passes_per_image("gan_only", {})
            others, notes = [], []
            kinds = sorted({(mm, v) for mm, _, v, _, _ in groups if mm in DISTILLATION},
                           key=lambda k: (DISTILLATION.index(k[0]), k[1]))
            for name, variant in kinds:  # each variant on its own (DMD2-style with and without its GAN term)
                fits = [(b, g, rs) for (mm, _, v, _, b), (g, rs) in groups.items() if (mm, v) == (name, variant)
                        and (c := passes_per_image(name, dict(rs[0].settings))) and b * c <= compute * (1 + 1e-9)]
                if fits:
                    b, g, rs = max(fits, key=lambda t: t[0])
                    others.append(g)
                    notes.append(f"{g.label} {b:g} kimg x {passes_per_image(name, dict(rs[0].settings)):g}")
                else:
                    shown = f"{name} ({variant})" if variant else name
                    notes.append(f"{shown}: no point within D2O's compute measured alike, not compared")
            if others:
                word, text = compared(d2o, others, lower_outcome)
                text += (f" (compute in kimg x passes per image: D2O {budget:g} x {passes_per_image('gan_only', {}):g}"
                         f"; " + "; ".join(notes) + ")")
                candidates.append((budget, len(others), Cell(word, text, budget, m)))
    return best_cell(candidates)


def claim2_after_tuning(reruns: dict[str, list[tuple[dict, list[dict]]]]) -> Cell | None:
    """D2O's tuned re-runs against each distillation method's (``reruns``: method -> the completed re-runs of
    its study's best trial with their `bench eval` records, harness/tuning/summary.py), at one re-run budget
    and one measurement. Every study starts from its method's preset (trial 0), so a method's tuned settings
    are its best of equally many tries."""
    values: dict[tuple[float, Measurement], dict[str, list[float]]] = {}
    for method, measured in reruns.items():
        for record, evaluations in measured:
            for entry in filter(None, map(fd_entry, [record, *evaluations])):
                at = (float(record.get("budget_kimg") or 0), entry[0])
                values.setdefault(at, {}).setdefault(method, []).append(entry[1])
    candidates = []
    for (budget, m), by_method in values.items():
        if "gan_only" not in by_method:
            continue
        d2o = Group(f"{method_label('gan_only')} tuned", budget, tuple(by_method["gan_only"]))
        others = [Group(f"{method_label(name)} tuned", budget, tuple(by_method[name]))
                  for name in DISTILLATION if name in by_method]
        if others:
            word, text = compared(d2o, others, lower_outcome)
            candidates.append((budget, len(others), Cell(word, text, budget, m)))
    return best_cell(candidates)


def tuned_reruns(views: list, key: str, backbone: str) -> dict[str, list[tuple[dict, list[dict]]]]:
    """Method -> re-runs of its study's best trial with their evaluations, for the studies of one scale."""
    out: dict[str, list[tuple[dict, list[dict]]]] = {}
    for view in views:
        mine = [(r, view.evaluations.get(str(r.get("run_id")), [])) for r in view.reruns
                if str((r.get("backbone") or {}).get("name")) == backbone
                and dataset_key(str(r.get("dataset")), backbone) == key]
        if mine:
            out.setdefault(str(view.settings.get("method")), []).extend(mine)
    return out


def claim3(runs: list[Run], measurements: list[Measurement]) -> Cell | None:
    candidates = []
    for m in measurements:
        groups = groups_in(runs, m)
        for (method, _, _, init, budget), (d2o, _) in groups.items():
            if method != "gan_only" or init != "pretrained":
                continue
            frozen = [g for (mm, lv, _, i, b), (g, _) in sorted(groups.items(), key=lambda kv: str(kv[0]))
                      if mm == "gan_only_frozen" and i == "pretrained" and b == budget and lv in (1, 2, 3)]
            if frozen:
                outcomes = [loses_little_outcome(g, d2o) for g in frozen]
                text = f"{d2o.shown()} vs " + "; ".join(g.shown() for g in frozen)
                candidates.append((budget, len(outcomes), Cell(verdict(outcomes), text, budget, m)))
    return best_cell(candidates)


def thesis(runs: list[Run], measurements: list[Measurement], early_runs: list[Run] = ()) -> Cell | None:
    """The pre-trained backbone's D2O/D2O-F against the same from a random network and, where stored, from
    the same recipe stopped early (``early_runs``: runs from such a backbone, harness/backbones/catalog.py)."""
    candidates = []
    for m in measurements:
        groups = groups_in(runs, m)
        by_budget: dict[float, list] = {}
        for (method, lv, variant, init, budget), (random_group, _) in groups.items():
            pretrained = groups.get((method, lv, variant, "pretrained", budget))
            if init == "random" and pretrained:
                by_budget.setdefault(budget, []).append((pretrained[0], random_group))
        for (method, lv, variant, init, budget), (early, rs) in groups_in(list(early_runs), m).items():
            pretrained = groups.get((method, lv, variant, "pretrained", budget))
            if init == "pretrained" and pretrained:
                label = f"{early.label} (backbone stopped at {rs[0].pretrain_kimg:.0f} kimg)"
                by_budget.setdefault(budget, []).append((pretrained[0], Group(label, budget, early.values)))
        for budget, pairs in by_budget.items():
            outcomes = [lower_outcome(p, r) for p, r in pairs]
            text = "; ".join(f"{p.shown()} vs {r.shown()}" for p, r in pairs)
            candidates.append((budget, len(outcomes), Cell(verdict(outcomes), text, budget, m)))
    return best_cell(candidates)


def fine_tuned(analyses: list[Analysis]) -> list[Analysis]:
    return [a for a in analyses if a.method in GAN and (a.record.get("method_info") or {}).get("init") != "random"]


def claim1(analyses: list[Analysis]) -> Cell | None:
    candidates = []
    for (label, budget, m), group in group_by(fine_tuned(analyses), lambda a: (a.label, a.budget_kimg,
                                                                                 a.measurement)).items():
        student = Group(f"{label} to the data", budget,
                        tuple(float(a.record["results"]["student_vs_data"]) for a in group))
        steps = group_by([row for a in group for row in a.record["results"]["teacher"]], lambda r: int(r["steps"]))
        teachers = [Group(f"teacher {s} steps to the student", budget,
                          tuple(float(r["teacher_vs_student"]) for r in rows)) for s, rows in sorted(steps.items())]
        if teachers:
            word, text = compared(student, teachers, lower_outcome)
            candidates.append((budget, len(teachers), Cell(word, text, budget, m)))
    return best_cell(candidates)


def claim4(analyses: list[Analysis]) -> Cell | None:
    candidates = []
    for (label, budget), group in group_by(fine_tuned(analyses), lambda a: (a.label, a.budget_kimg)).items():
        outcomes, parts = [], []
        for band in ("low", "mid", "high"):
            values = {s: tuple(float(a.record["band_errors"][s][band]) for a in group) for s in ("after", "teacher",
                                                                                                 "before")}
            after = Group(f"{label}", budget, values["after"])
            teacher = Group("teacher", budget, values["teacher"])
            outcome = lower_outcome(after, teacher)
            outcomes.append(None if outcome is None else ("against" if outcome == "against" else "for"))
            parts.append(f"{band}: {after.shown()} vs {teacher.shown()} (before: "
                         f"{Group('one step', budget, values['before']).shown()})")
        candidates.append((budget, len(outcomes), Cell(verdict(outcomes), "band error (log10 power): " +
                                                        "; ".join(parts), budget)))
    return best_cell(candidates)


def cells_of(ctx: Context, key: str, backbone: str) -> list[Cell]:
    """The claims' cells of one scale."""
    runs = [r for r in ctx.inputs.runs if r.key == key and r.backbone == backbone]
    stopped = early_stopped(ctx.inputs.runs)
    early_runs = [r for r in ctx.inputs.runs if (key, backbone) in stopped.get((r.key, r.backbone), ())]
    measurements = list(fd_values(runs))

    def of(kind: str) -> list[Analysis]:
        return [a for a in ctx.inputs.analyses.get(kind, []) if a.key == key and a.backbone == backbone]

    reruns = tuned_reruns(ctx.inputs.studies[0], key, backbone)
    built = [claim1(of(MISMATCH_KIND)), claim2_equal_images(runs, measurements),
             claim2_equal_compute(runs, measurements), claim2_after_tuning(reruns), claim3(runs, measurements),
             claim4(of(SPECTRUM_KIND)), thesis(runs, measurements, early_runs)]
    missing = ["no mismatch analysis of a fine-tuned D2O/D2O-F run", "no D2O and distillation runs measured alike "
               "at one budget", "no D2O and distillation runs measured alike within D2O's compute",
               "no `bench tune` studies of D2O and a distillation method re-run alike (`bench tune ... "
               "--rerun-seeds 0,1,2`)", "no D2O and D2O-F (levels 1-3) runs measured alike at one budget",
               "no spectrum analysis of a fine-tuned D2O/D2O-F run",
               "no random-init (`--set init=random`) runs beside pre-trained ones at one budget, measured alike"]
    return [cell if cell is not None else Cell(NOT_MEASURED, why) for cell, why in zip(built, missing)]


def build(spec: TableSpec, ctx: Context) -> Document:
    columns = scales(ctx)
    cells = {col: cells_of(ctx, *col) for col in columns}
    titles = [scale_title([r for r in ctx.inputs.runs if (r.key, r.backbone) == col], *col) for col in columns]
    rows, csv_rows = [], []
    for i, (name, claim) in enumerate(CLAIMS):
        rows.append([f"{name}: {claim}"] + [cells[col][i].text() for col in columns])
        for col in columns:
            cell = cells[col][i]
            csv_rows.append({"claim": name, "dataset": col[0], "backbone": col[1], "verdict": cell.verdict,
                             "budget_kimg": cell.budget_kimg, "numbers": cell.numbers,
                             "other_measurements": "; ".join(f"[{c.measurement.id}] {c.verdict}: {c.numbers}"
                                                             for c in cell.dissent),
                             **(cell.measurement.csv_fields() if cell.measurement else {})})
    used = {m.id: m for col in columns for c in cells[col] for m in [c.measurement, *(d.measurement for d in c.dissent)]
            if m}
    notes = [f"measurement {m.legend()}" for _, m in sorted(used.items())]
    if not columns:
        notes.append("no stored records yet: run `bench run --method gan_only --dataset digits`")
    section = Section("Claims by scale", ["claim"] + titles, rows, notes,
                      ["claim"] + [f"{dataset_title(k)}" for k, _ in columns])
    return Document(spec.name, spec.title, spec.caption, [section], CSV_HEADER, csv_rows)


SPEC = TableSpec(
    name="claims",
    title="The paper's claims, scale by scale: supported, not supported, mixed or not measured",
    caption=(f"One column per scale (dataset and backbone); every number from the stored records, mean ± std over "
             f"seeds (n). Rule: two groups differ clearly when their ±1 std bars do not overlap; a comparison needs "
             f"n ≥ {MIN_SEEDS} on both sides, else it decides nothing. A claim is supported when every decisive "
             f"comparison goes its way, not supported when none does and one goes against it, mixed otherwise, not "
             f"measured when no comparison is decisive. Claim 2 compares D2O with PD, CD and DMD2-style at D2O's "
             f"budget (equal images; PD's snapshot points excluded) and, at equal compute, with each method at its "
             f"largest budget whose kimg x passes per image stays within D2O's (passes: forward-pass equivalents of "
             f"the backbone-sized networks per training image, backward = 2 forwards: D2O 4, PD 5, CD 6, DMD2-style "
             f"4 + 4/k with a generator update every k-th fake-score update; D2O's discriminator not counted); after "
             f"equal tuning, with each method's re-runs of the best trial of its `bench tune` study. "
             f"Claim 3: a level goes against only when clearly worse and over {LOSES_LITTLE:.0%} above D2O. Claim 1: "
             f"the student's FD to the data against each teacher step count's FD to the student. Claim 4: each "
             f"band's error after fine-tuning against the teacher's (against only when clearly higher). Thesis: the "
             f"pre-trained D2O/D2O-F against the same method from a random network and from the same backbone recipe "
             f"stopped early in its pre-training (a backbone named <recipe>-<N>kimg whose records say fewer "
             f"pre-training images than <recipe> or <recipe>-<M>kimg; it has no column of its own). Each cell uses the largest "
             f"budget with the comparison, then the most groups compared, then the most samples; all its values "
             f"share one measurement [id]. Where the same groups at the same budget give another verdict in another "
             f"measurement, the cell shows that one too, in parentheses."),
    build=build,
)
