"""The table and figure specs, one module each, in the order the index lists them.

Adding a table: write a module with a ``SPEC = TableSpec(name, title, caption, build)`` and add it
here; `bench report` writes <name>.md/.tex/.csv (and <name>.png when the document has a figure).
"""

from harness.report.tables import (claims, cost, curves, figure_1a, freeze_ablation, mismatch, one_step, runs, samples, spectrum,
                                   tuned)

SPECS = (one_step.SPEC, figure_1a.SPEC, curves.SPEC, samples.SPEC, freeze_ablation.SPEC, mismatch.SPEC, spectrum.SPEC, cost.SPEC,
         tuned.SPEC, claims.SPEC, runs.SPEC)
