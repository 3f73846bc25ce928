"""`bench eval --checkpoint` records in the report: each measured a stored run's generator again (other
network, sample count or reference, e.g. Inception FID/KID of a Fashion-MNIST run, issue #24 item 7), so
its values join that run's row as columns of their own instead of counting as another run.
(Works on ``harness.report.inputs.Run`` objects, which it does not import: inputs imports this.)"""

from __future__ import annotations

import dataclasses


def join_evaluations(runs: list, evaluations: list[tuple[object, str]], tuning_reruns: set[str] = frozenset()) -> None:
    """Add each eval record's values (as a Run, with the id of the run it measured) to that run, in place;
    one that measured a `bench tune` re-run is left to the tuning tables (harness/tuning/summary.py); any
    other whose run is not among ``runs`` becomes a row of its own, without hours (its timing is the
    evaluation's, not training's)."""
    by_id = {run.run_id: i for i, run in enumerate(runs)}
    for evaluation, measured in evaluations:
        index = by_id.get(measured)
        if index is None and measured in tuning_reruns:
            continue
        if index is None:
            runs.append(dataclasses.replace(evaluation, wall_seconds=None, train_seconds=None))
            continue
        run = runs[index]
        runs[index] = dataclasses.replace(run, values=run.values + evaluation.values,
                                          spreads=run.spreads + evaluation.spreads,
                                          evaluations=run.evaluations + (evaluation.name,))
