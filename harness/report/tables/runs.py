"""runs.md/csv: every readable record, one row each, failed and analysis records included.

The other tables aggregate; this one lets a reader find the single run behind a number (its record
file) and see the runs the other tables leave out, with their status.
"""

from __future__ import annotations

from harness.report.inputs import RUN_KIND, dataset_key, measurement_of, relative_name
from harness.report.render import Document, Section
from harness.report.spec import Context, TableSpec

BASE_COLUMNS = ["record", "kind", "status", "dataset", "method", "seed", "budget_kimg", "nfe", "backbone"]


def base_fields(record: dict, name: str) -> dict:
    backbone = (record.get("backbone") or {}).get("name") if isinstance(record.get("backbone"), dict) else None
    dataset, info = record.get("dataset"), record.get("method_info")
    init = info.get("init") if isinstance(info, dict) else None  # the thesis control names itself (random init)
    return {"record": name, "kind": record.get("kind", RUN_KIND), "status": record.get("status"),
            "dataset": dataset_key(str(dataset), str(backbone or "")) if dataset else None,
            "method": record.get("method") if init in (None, "pretrained") else f"{record.get('method')} ({init} init)",
            "seed": record.get("seed"), "budget_kimg": record.get("budget_kimg"),
            "nfe": record.get("nfe"), "backbone": backbone}


def metric_values(record: dict) -> dict:
    out = {}
    for metric in record.get("metrics") or []:
        if isinstance(metric, dict) and isinstance(metric.get("value"), (int, float)):
            out[measurement_of(metric)] = float(metric["value"])
    return out


def metric_spreads(record: dict) -> dict:
    """The spread a value carries itself (KID: std over subsets, IS: over splits), shown beside it."""
    out = {}
    for metric in record.get("metrics") or []:
        std = (metric.get("details") or {}).get("std") if isinstance(metric, dict) else None
        if isinstance(std, (int, float)) and isinstance(metric.get("value"), (int, float)):
            out[measurement_of(metric)] = float(std)
    return out


def _cell(value: float | None, spread: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if spread is None else f"{value:.4g} ± {spread:.2g}"


def build(spec: TableSpec, ctx: Context) -> Document:
    results_dir = ctx.inputs.results_dir
    rows = sorted(((relative_name(r, results_dir), r) for r in ctx.inputs.all_records), key=lambda t: t[0])
    values = [metric_values(r) for _, r in rows]
    spreads = [metric_spreads(r) for _, r in rows]
    measurements = sorted({m for v in values for m in v})
    headers = {m: m.header() for m in measurements}
    header = BASE_COLUMNS + list(headers.values())
    short = BASE_COLUMNS + [m.short() for m in measurements]
    table, csv_rows = [], []
    for (name, record), vals, spread in zip(rows, values, spreads):
        base = base_fields(record, name)
        table.append(["—" if base[c] is None else str(base[c]) for c in BASE_COLUMNS]
                     + [_cell(vals.get(m), spread.get(m)) for m in measurements])
        csv_rows.append({**base, **{headers[m]: vals.get(m) for m in measurements},
                         **{f"{headers[m]} std": spread[m] for m in measurements if m in spread}})
    notes = [f"measurement {m.legend()}" for m in measurements]
    if any(spreads):
        notes.append("a ± after a value is its own spread as recorded: KID's std over subsets, IS's over splits")
    if not rows:
        notes.insert(0, "no readable records in the results directory yet: run `bench run --method gan_only "
                        "--dataset digits`")
    section = Section("All records", header, table, notes, short)
    spread_columns = [f"{headers[m]} std" for m in measurements if any(m in sp for sp in spreads)]
    return Document(spec.name, spec.title, spec.caption, [section], header + spread_columns, csv_rows)


SPEC = TableSpec(
    name="runs",
    title="All stored records",
    caption="One row per readable record (runs and analyses, completed or failed); metric values as stored.",
    build=build,
)
