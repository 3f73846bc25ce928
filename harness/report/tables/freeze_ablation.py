"""Table (c): the D2O-F freeze-level ablation: frozen share and FD per level.

Reported shares come from arXiv 2506.09376 and Zyriix/D2O train.sh (counted on the released architectures); reproduced shares
are what the run itself counted (record ``method_info.frozen_share``), so a mismatch between the two
shows a freezing rule that differs from the paper's. D2O runs (nothing frozen) are level 0.
"""

from __future__ import annotations

from harness.report.inputs import (DATASETS, DEFAULT_BACKBONES, Run, dataset_order, dataset_title, fd_values,
                                   group_by, run_command, runs_with, seeds_shown, summarize)
from harness.report.formatting import KID_HEADER, KID_NOTE, kid_cell, kid_values, provenance, seeds_note
from harness.report.render import Citations, Document, Section
from harness.report.spec import Context, TableSpec

METHODS = ("gan_only", "gan_only_frozen")
CSV_HEADER = ["dataset", "level", "method", "bench_method", "budget_kimg", "backbone", "architecture",
              "frozen_share_reported", "frozen_share_entry", "frozen_share_reproduced", "reported_fid",
              "reported_fid_entry", "measurement", "metric", "extractor", "extractor_weights_sha256",
              "implementation", "num_samples", "reference", "reference_sha256", "fd_mean", "fd_std", "seeds", "runs",
              "kid_mean", "kid_subset_std"]


def level_of(run: Run) -> int:
    return 0 if run.method == "gan_only" else int(run.freeze_level if run.freeze_level is not None else 1)


def share_shown(runs: list[Run]) -> tuple[str, float | None]:
    """The share the runs counted; a spread (which should not happen) is shown, not averaged away."""
    shares = sorted({0.0 if r.method == "gan_only" else r.frozen_share for r in runs} - {None})
    if not shares:
        return "not recorded", None
    if len(shares) == 1:
        return f"{shares[0]:.3f}", shares[0]
    return f"{shares[0]:.3f}-{shares[-1]:.3f} (differs between runs)", sum(shares) / len(shares)


def reported_share(ctx: Context, backbone: str, level: int):
    arch = ctx.published.architecture_of_backbone.get(backbone)
    if arch is None or level == 0:
        return arch, None
    return arch, next((e for e in ctx.published.select("frozen_share", arch) if e.level == level), None)


def reported_fid(ctx: Context, key: str, level: int):
    method = {0: "gan_only", 1: "gan_only_frozen"}.get(level)
    if method is None:
        return None
    return next((e for e in ctx.published.select("fid", key) if e.harness_method == method and not e.is_readme()),
                None)


def build(spec: TableSpec, ctx: Context) -> Document:
    cites = Citations(ctx.published)
    runs = [r for r in ctx.inputs.runs if r.method in METHODS]
    by_key = group_by(runs, lambda r: r.key)
    sections, csv_rows = [], []
    for key in dataset_order(set(by_key) | set(DATASETS)):
        section, rows = dataset_section(key, by_key.get(key, []), ctx, cites)
        sections.append(section)
        csv_rows += rows
    return Document(spec.name, spec.title, spec.caption, sections, CSV_HEADER, csv_rows, cites.footnotes())


def dataset_section(key: str, runs: list[Run], ctx: Context, cites: Citations) -> tuple[Section, list[dict]]:
    measurements = list(fd_values(runs))
    header = ["level", "method", "budget (kimg)", "backbone", "frozen share reported", "frozen share reproduced",
              "reported FID"]
    short = list(header)
    for m in measurements:
        header += [f"{m.header()}: mean ± std", f"seeds [{m.id}]"]
        short += [m.short(), "seeds"]
    kid_measurements = list(kid_values(runs))  # KID beside FD, where a record holds one (issue #24)
    for m in kid_measurements:
        header += [f"{m.header()}: {KID_HEADER}", f"seeds [{m.id}]"]
        short += [m.short(), "seeds"]
    rows, csv_rows, done, sources = [], [], set(), []
    groups = group_by(runs, lambda r: (level_of(r), r.method, r.budget_kimg, r.backbone, r.init))  # init: own rows
    for (level, method, budget, backbone, _), group in sorted(groups.items()):
        arch, share = reported_share(ctx, backbone, level)
        fid = reported_fid(ctx, key, level)
        done.add((arch, level))
        shown, value = share_shown(group)
        row = [str(level), group[0].label, f"{budget:g}", backbone, cites.cell(share) if share else "—", shown,
               cites.cell(fid) if fid else "—"]
        base = {"dataset": key, "level": level, "method": group[0].label, "bench_method": method,
                "budget_kimg": budget, "backbone": backbone, "architecture": arch,
                "frozen_share_reported": share.value if share else None, "frozen_share_entry": share.id if share else None,
                "frozen_share_reproduced": value, "reported_fid": fid.value if fid else None,
                "reported_fid_entry": fid.id if fid else None, "runs": len(group), "seeds": len({r.seed for r in group})}
        values = fd_values(group)
        for m in measurements:
            stats = summarize(values.get(m, []))
            row += [stats.shown(), seeds_shown(runs_with(group, m))] if stats else ["—", "0"]
            if stats:
                csv_rows.append({**base, **m.csv_fields(), "fd_mean": stats.mean, "fd_std": stats.std})
        kids = kid_values(group)
        for m in kid_measurements:
            pairs = kids.get(m, [])
            row += [kid_cell(pairs), seeds_shown(runs_with(group, m))] if pairs else ["—", "0"]
            csv_rows += [{**base, **m.csv_fields(), "kid_mean": v, "kid_subset_std": sd, "runs": 1} for v, sd in pairs]
        if not values and not kids:
            csv_rows.append(base)
        rows.append(row)
        sources.append(provenance(group))
    rows_reported, csv_reported = reported_only_rows(key, ctx, cites, done, len(measurements) + len(kid_measurements))
    sources += ["reported only: baselines/published.json (see the sources below)"] * len(rows_reported)
    notes = (section_notes(key, runs, measurements + kid_measurements, ctx, cites) + seeds_note(rows)
             + ([KID_NOTE] if kid_measurements else []))
    return Section(dataset_title(key), header, rows + rows_reported, notes, short, sources), csv_rows + csv_reported


def reported_only_rows(key: str, ctx: Context, cites: Citations, done: set, width: int) -> tuple[list, list]:
    """Published levels of the dataset's released architecture that no stored run reproduces."""
    backbone = DEFAULT_BACKBONES.get(key)
    arch = ctx.published.architecture_of_backbone.get(backbone or "")
    rows, csv_rows = [], []
    for share in ctx.published.select("frozen_share", arch) if arch else []:
        if (arch, share.level) in done:
            continue
        fid = reported_fid(ctx, key, share.level)
        rows.append([str(share.level), "D2O-F", "—", backbone, cites.cell(share), "—", cites.cell(fid) if fid else "—"]
                    + ["—", "0"] * width)
        csv_rows.append({"dataset": key, "level": share.level, "method": "D2O-F", "bench_method": "gan_only_frozen",
                         "backbone": backbone, "architecture": arch, "frozen_share_reported": share.value,
                         "frozen_share_entry": share.id, "reported_fid": fid.value if fid else None,
                         "reported_fid_entry": fid.id if fid else None})
    return rows, csv_rows


def section_notes(key: str, runs: list[Run], measurements: list, ctx: Context, cites: Citations) -> list[str]:
    notes = []
    title = dataset_title(key)
    levels = {level_of(r) for r in runs if r.method == "gan_only_frozen"}
    if not runs:
        notes.append(f"no stored D2O-F runs for {title} yet: run "
                     f"{run_command('gan_only_frozen', key, ' --set freeze_level=1')} (and levels 2, 3; "
                     f"{run_command('gan_only', key)} for level 0)")
    else:
        for level in sorted({1, 2, 3} - levels):
            notes.append(f"level {level} not reproduced yet for {title}: run "
                         f"{run_command('gan_only_frozen', key, f' --set freeze_level={level}')}")
    arch = ctx.published.architecture_of_backbone.get(DEFAULT_BACKBONES.get(key, ""))
    if arch:
        params = ctx.published.select("parameters", arch)
        notes.append(f"reported shares are of {ctx.published.architecture_names[arch]}"
                     + (f"; parameters in millions: {cites.cell(params[0])}" if params else ""))
    else:
        notes.append(f"no published frozen shares for {title}: the paper counts only its released architectures")
    notes += [f"measurement {m.legend()}" for m in measurements]
    return notes


SPEC = TableSpec(
    name="freeze_ablation",
    title="D2O-F freeze-level ablation: frozen share and FD per level",
    caption=("Level 0 is D2O (nothing frozen); levels 1-3 freeze a block's 3x3 convolutions and attention output "
             "projection, then also qkv, then also the 1x1 skip convolutions (arXiv 2506.09376 and Zyriix/D2O train.sh). The published "
             "D2O-F FID is for level 1. Reproduced shares are counted by the runs themselves."),
    build=build,
)
