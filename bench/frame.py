"""Every stored metric as one table row with its provenance (``bench.records``).

One row per metric value: the run's final metrics (``point = "final"``) and each curve point's
(``point = "curve"``, at its ``kimg``), with what makes numbers comparable beside the value:
feature network and weights hash, implementation, sample count and seeds, reference data, backbone,
data hash, code commit. ``records`` returns it as a pandas DataFrame (pandas: the ``notebook`` or
``test`` extra); ``metric_rows`` gives the same rows as dicts without pandas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLUMNS = ("run_id", "status", "method", "dataset", "seed", "budget_kimg", "point", "kimg", "metric", "value",
           "num_samples", "seeds", "extractor", "extractor_weights_sha256", "implementation", "reference_id",
           "reference_sha256", "backbone", "backbone_sha256", "data_sha256", "nfe", "git_commit", "git_dirty",
           "created_utc", "path")


def _row(record: dict, metric: dict, point: str, kimg: Any) -> dict[str, Any]:
    reference = metric.get("reference") if isinstance(metric.get("reference"), dict) else {}
    backbone = record.get("backbone") if isinstance(record.get("backbone"), dict) else {}
    git = ((record.get("environment") or {}).get("git") or {})
    seeds = metric.get("seeds")
    return {
        "run_id": record.get("run_id"), "status": record.get("status"), "method": record.get("method"),
        "dataset": record.get("dataset"), "seed": record.get("seed"), "budget_kimg": record.get("budget_kimg"),
        "point": point, "kimg": kimg, "metric": metric.get("name"), "value": metric.get("value"),
        "num_samples": metric.get("num_samples"), "seeds": f"{seeds[0]}-{seeds[1]}" if seeds else None,
        "extractor": metric.get("extractor"), "extractor_weights_sha256": metric.get("extractor_weights_sha256"),
        "implementation": metric.get("implementation"), "reference_id": reference.get("id"),
        "reference_sha256": reference.get("sha256"), "backbone": backbone.get("name"),
        "backbone_sha256": backbone.get("sha256"), "data_sha256": (record.get("data") or {}).get("sha256"),
        "nfe": record.get("nfe"), "git_commit": git.get("commit"), "git_dirty": git.get("dirty"),
        "created_utc": record.get("created_utc"), "path": record.get("_path"),
    }


def metric_rows(results: str | Path = "results") -> list[dict[str, Any]]:
    """The rows of ``records`` as dicts (every readable record; unreadable ones are skipped)."""
    from harness.records import load_records

    stored, _ = load_records(Path(results))
    rows = []
    for record in stored:
        for metric in record.get("metrics") or []:
            rows.append(_row(record, metric, "final", record.get("budget_kimg")))
        for point in (record.get("curve") or {}).get("points", []):
            if not point.get("final"):
                rows.extend(_row(record, metric, "curve", point.get("kimg")) for metric in point.get("metrics") or [])
    return rows


def records(results: str | Path = "results"):
    """Every stored metric with its provenance columns as a pandas DataFrame (``COLUMNS``)."""
    try:
        import pandas
    except ImportError:
        from harness.errors import BenchError

        raise BenchError("bench.records() returns a pandas DataFrame: pip install -e \".[notebook]\" "
                         "(or use bench.metric_rows(), the same rows as dicts)") from None
    return pandas.DataFrame(metric_rows(results), columns=list(COLUMNS))
