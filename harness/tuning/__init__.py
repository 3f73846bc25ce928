"""`bench tune`: equal tuning effort for every method (Optuna studies over each method's declared
search space, scored on held-out sample seeds, best configuration re-run on fresh seeds).

space.py (what is searched), study.py (storage, settings, counting), objective.py (one trial = one
`bench run`), command.py (the command), summary.py (what `bench report` reads, without Optuna).
"""
