"""A study on disk: Optuna's SQLite storage under ``<results>/tuning/``, its settings, and its count.

Layout for a study NAME (``optuna-dashboard sqlite:///<results>/tuning/NAME.db`` opens it):

  <results>/tuning/NAME.db             Optuna's RDB storage (trials, params, values, user attrs)
  <results>/tuning/NAME/<run id>/      one ordinary `bench run` record per trial (tags: study, trial)
  <results>/tuning/NAME/reruns/<id>/   the best configuration re-run on fresh seeds
  <results>/tuning/NAME/study.json     a plain-JSON summary that `bench report` reads (no Optuna needed)

Several processes may work on one study: Optuna's RDB storage hands each its own trials, a file
lock serialises creating the study, and each trial keeps a heartbeat so that a trial whose process
died is marked failed and re-queued with the same settings (Optuna's heartbeat retry callback);
its run then continues from its own checkpoint (objective.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any, Iterator

from harness.errors import BenchError, UsageError, in_brief

TUNING_DIR = "tuning"
SUMMARY_NAME = "study.json"
DIVERGED = "diverged"  # user attr 'outcome' of a trial whose run diverged: it counts as spent


SQLITE_HEADER = b"SQLite format 3\x00"
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")  # a plain file name: no '/', '%', '?', '..'


def check_study_name(name: str, results: Path) -> None:
    """A study name is a plain file name of a strict character set, and its files stay inside
    ``<results>/tuning`` (the name goes into a file path and an SQLite URL)."""
    if not isinstance(name, str) or not STUDY_NAME.fullmatch(name) or ".." in name:
        raise UsageError(f"--study {name!r}: a study name is 1-128 letters, digits, '.', '_', '+' or '-', starting "
                         f"with a letter or digit (it names files in {Path(results) / TUNING_DIR})")
    inside = (Path(results) / TUNING_DIR).resolve()
    for path in (study_dir(results, name), storage_path(results, name)):
        if path.resolve().parent != inside:
            raise UsageError(f"--study {name!r}: its files would lie outside {inside}")


def study_dir(results: Path, name: str) -> Path:
    return Path(results) / TUNING_DIR / name


def storage_path(results: Path, name: str) -> Path:
    return Path(results) / TUNING_DIR / f"{name}.db"


def storage_url(path: Path) -> str:
    """SQLAlchemy's URL of an SQLite file: the absolute path, percent-quoted (SQLAlchemy decodes
    '%xx' in it, and '?' would start a query string)."""
    from urllib.parse import quote

    return "sqlite:///" + quote(str(Path(path).resolve()), safe="/")


@contextlib.contextmanager
def study_lock(results: Path, name: str) -> Iterator[None]:
    """An exclusive lock across processes while a study is created, checked or re-queued."""
    path = Path(results) / TUNING_DIR / f".{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def make_storage(results: Path, name: str, heartbeat_s: int):
    import optuna

    url = storage_url(storage_path(results, name))
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)  # Optuna >= 4.9
    if retry is not None:
        callback = {"heartbeat_stale_trial_callback": retry(max_retry=3)}
    else:
        callback = {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=3)}
    return optuna.storages.RDBStorage(
        url, engine_kwargs={"connect_args": {"timeout": 300}},  # wait for the other process's write
        heartbeat_interval=heartbeat_s, grace_period=2 * heartbeat_s, **callback)


def sqlite_header(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(len(SQLITE_HEADER))


def readable_storage(results: Path, name: str, heartbeat_s: int):
    """The study's storage and the studies in it; a file that is not an Optuna SQLite database
    (corrupt, truncated, another program's) is one line naming it, not SQLAlchemy's traceback."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    path = storage_path(results, name)
    try:
        storage = make_storage(results, name, heartbeat_s)
        return storage, {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    except (SQLAlchemyError, optuna.exceptions.OptunaError, RuntimeError, ValueError) as exc:
        raise BenchError(f"study database {path}: not a readable Optuna SQLite file ({exc.__class__.__name__}: {in_brief(exc)}); "
                         f"move it away or pass --study NEW_NAME") from None


def quiet_optuna() -> None:
    """Optuna's heartbeat API is marked experimental; its warnings would bury the command's output."""
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the command reports each trial itself


def make_sampler(settings: dict, space: dict, joined_after: int):
    """Seeded TPE, or a grid. A process joining a study with trials already in it draws from its own
    seed (the study's seed + the trials it found), so two processes do not propose the same values."""
    import optuna

    from harness.tuning.space import grid_values

    seed = int(settings["seed"]) + joined_after
    if settings["sampler"] == "grid":
        return optuna.samplers.GridSampler({k: grid_values(t, settings["grid_points"]) for k, t in space.items()},
                                           seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=settings["startup_trials"])


def differences(stored: dict, asked: dict) -> list[str]:
    keys = sorted(set(stored) | set(asked))
    return [f"{k}: stored {json.dumps(stored.get(k))}, asked {json.dumps(asked.get(k))}"
            for k in keys if stored.get(k) != asked.get(k)]


def open_study(results: Path, name: str, settings: dict, space: dict, defaults: dict[str, Any],
               heartbeat_s: int, pruner, pruning_note: str):
    """Create the study, or load it and check that it was made with the same settings.

    A new TPE study gets the configured defaults (paper or dataset preset) as its first trial, so
    the tuned result can only match or beat the default on the held-out seeds.
    """
    import optuna

    quiet_optuna()
    path = storage_path(results, name)
    if path.is_file() and path.stat().st_size and sqlite_header(path) != SQLITE_HEADER:
        raise BenchError(f"study database {path}: not an SQLite file (corrupt or another program's); move it away "
                         f"or pass --study NEW_NAME")
    with study_lock(results, name):
        storage, names = readable_storage(results, name, heartbeat_s)
        if name in names:
            probe = optuna.load_study(study_name=name, storage=storage)
            stored = probe.user_attrs.get("settings")
            if stored != settings:
                diff = differences(stored or {}, settings)
                raise UsageError(f"study '{name}' exists in {storage_path(results, name)} with other settings "
                                 f"({'; '.join(diff[:3])}); pass --study NEW_NAME for a new study")
            joined_after = len(probe.trials)
            study = optuna.load_study(study_name=name, storage=storage, pruner=pruner,
                                      sampler=make_sampler(settings, space, joined_after))
        else:
            study = optuna.create_study(study_name=name, storage=storage, direction="minimize", pruner=pruner,
                                        sampler=make_sampler(settings, space, 0))
            study.set_user_attr("settings", settings)
            study.set_user_attr("defaults", defaults)
            first = settings["holdout_first_seed"]
            study.set_user_attr("objective", "final FD/FID of the trial's run on the held-out sample seeds "
                                f"{first}..{first + settings['num_samples'] - 1}")
            study.set_user_attr("pruning", pruning_note)
            inside = {k: v for k, v in defaults.items() if space[k].contains(v)}  # out of range: sampled
            if settings["sampler"] == "tpe" and inside:
                study.enqueue_trial(inside, user_attrs={"default": True})
        requeue_interrupted(study)
    return study


def requeue_interrupted(study) -> None:
    """Trials stopped by Ctrl-C end as failed; queue each once more with its settings and its root,
    so the next trial continues its run from the checkpoint instead of starting another."""
    from optuna.trial import TrialState

    done = set(study.user_attrs.get("requeued", []))
    todo = [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            if t.user_attrs.get("interrupted") and t.number not in done]
    for t in todo:
        study.enqueue_trial(t.params, user_attrs={"trial_root": t.user_attrs.get("trial_root", t.number)})
    if todo:
        study.set_user_attr("requeued", sorted(done | {t.number for t in todo}))


def counts(study) -> dict[str, int]:
    """Trials spent (finished, pruned, or diverged), running, and waiting in the queue.

    A trial failed because its process died or was interrupted is not spent: it is re-queued.
    """
    from optuna.trial import TrialState

    out = {"spent": 0, "running": 0, "waiting": 0}
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
                t.state == TrialState.FAIL and t.user_attrs.get("outcome") == DIVERGED):
            out["spent"] += 1
        elif t.state == TrialState.RUNNING:
            out["running"] += 1
        elif t.state == TrialState.WAITING:
            out["waiting"] += 1
    return out


class Surplus(Exception):
    """A trial asked for after the study's trials were all given out (two processes asked at once)."""


def claim(study, results: Path, name: str, number: int, trials: int) -> None:
    """Raise ``Surplus`` unless trial ``number`` is still needed: spent trials plus the running ones
    numbered before it are fewer than ``trials``. Counted under the study's lock, and the lower
    number wins, so two processes asking at once never both run the last trial."""
    from optuna.trial import TrialState

    with study_lock(results, name):
        c = counts(study)
        earlier = sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if t.number < number)
    if c["spent"] + earlier >= trials:
        raise Surplus(f"trial {number} is not needed: the study's {trials} trials are spent or running")


def write_summary(study, results: Path, name: str) -> Path:
    """study.json: settings, every trial and the best, for `bench report` (replaced atomically)."""
    from optuna.trial import TrialState

    trials = []
    for t in study.get_trials(deepcopy=False):
        trials.append({"number": t.number, "state": t.state.name.lower(), "value": t.value,
                       "params": t.params, "run_id": t.user_attrs.get("run_id"),
                       "outcome": t.user_attrs.get("outcome"), "default": bool(t.user_attrs.get("default"))})
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    best = min(complete, key=lambda t: (t.value, t.number)) if complete else None
    summary = {"study": name, "storage": storage_path(results, name).name,
               "settings": study.user_attrs.get("settings"), "defaults": study.user_attrs.get("defaults"),
               "objective": study.user_attrs.get("objective"), "pruning": study.user_attrs.get("pruning"),
               "spent": counts(study)["spent"], "trials": trials,
               "best": {"number": best.number, "value": best.value, "params": best.params} if best else None}
    path = study_dir(results, name) / SUMMARY_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path
