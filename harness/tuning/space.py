"""A study's search space: the method's declared SEARCH_SPACE, changed by ``--space KEY=RANGE``.

RANGE is ``LOW:HIGH`` (the field's type; log-uniform if the method declares the key so),
``LOW:HIGH:log`` or ``LOW:HIGH:linear`` to choose the scale, ``A,B,C`` for a set of choices, or
one value to hold the setting fixed. KEY must be a field of the method's Config. Nothing here
imports Optuna except inside ``suggest``.
"""

from __future__ import annotations

import math
import sys
import typing
from typing import Any

from baselines.tunable import Tunable
from harness.config import field_types, parse_value
from harness.errors import UsageError

SCALES = ("log", "linear")


def declared_space(method: str) -> dict[str, Tunable]:
    """The SEARCH_SPACE the method's module declares beside its Config (empty if none)."""
    from baselines import METHODS

    cls = METHODS.get(method)
    if not cls.trains:
        raise UsageError(f"method {method} does not train; there is nothing to tune (tunable methods: "
                         f"{', '.join(n for n, c in METHODS.items() if c.trains)})")
    return dict(getattr(sys.modules[cls.__module__], "SEARCH_SPACE", {}) or {})


def _number(text: str, kind: type, pair: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--space {pair}: '{text}' is not a number") from None
    if not math.isfinite(value):
        raise UsageError(f"--space {pair}: bounds must be finite")
    if kind is int and value != int(value):
        raise UsageError(f"--space {pair}: the setting is an int, '{text}' is not a whole number")
    return value


def parse_range(pair: str, annotation: Any, declared: Tunable | None) -> Tunable:
    """One ``KEY=RANGE`` flag (KEY already checked) as a Tunable of the field's type."""
    key, text = pair.split("=", 1)
    text = text.strip()
    base = annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args and typing.get_origin(annotation) is not tuple:  # Optional[X] -> X
        base = args[0]
    if typing.get_origin(base) is tuple or base not in (int, float, str, bool):
        raise UsageError(f"--space {pair}: '{key}' has type {annotation} and cannot be searched")
    if not text:
        raise UsageError(f"--space {pair}: empty range; use LOW:HIGH[:log|:linear], A,B,C or one value")
    if ":" in text:
        parts = text.split(":")
        scale = parts.pop() if len(parts) == 3 else None
        if len(parts) != 2 or (scale is not None and scale not in SCALES):
            raise UsageError(f"--space {pair}: a range is LOW:HIGH, LOW:HIGH:log or LOW:HIGH:linear")
        if base not in (int, float):
            raise UsageError(f"--space {pair}: '{key}' is a {base.__name__}; give choices A,B,... instead of a range")
        low, high = (_number(p, base, pair) for p in parts)
        log = (scale == "log") if scale else bool(declared and declared.kind != "choice" and declared.log)
        if not low < high:
            raise UsageError(f"--space {pair}: LOW must be below HIGH")
        if log and low <= 0:
            raise UsageError(f"--space {pair}: a log range needs LOW > 0")
        return Tunable("int" if base is int else "float", low, high, log=log, why="--space")
    parts = [part.strip() for part in text.split(",")]
    if "" in parts:  # `1,,2` or `1,`: a typo, not two choices
        raise UsageError(f"--space {pair}: an empty choice; list choices as A,B,C")
    try:
        values = tuple(parse_value(part, base, key) for part in parts)
    except UsageError:
        raise UsageError(f"--space {pair}: every choice must be a {base.__name__}") from None
    if len(set(values)) != len(values):
        raise UsageError(f"--space {pair}: a choice is listed twice")
    return Tunable("choice", choices=values, why="--space")


def flag_of(pair: str) -> tuple[str, str]:
    """A ``--space`` flag's key and the flag as messages quote it (KEY without spaces)."""
    key, text = pair.split("=", 1)
    return key.strip(), f"{key.strip()}={text}"


def resolve_space(method: str, pairs: list[str]) -> dict[str, Tunable]:
    """The declared space with every ``--space`` flag applied, keys sorted (the study stores it)."""
    from baselines import METHODS

    space = declared_space(method)
    types = field_types(METHODS.get(method).Config)
    given: set[str] = set()
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--space expects KEY=RANGE, got '{pair}'")
        key, pair = flag_of(pair)
        if key not in types:
            raise UsageError(f"--space: unknown key '{key}' for method {method}; "
                             f"valid keys: {', '.join(sorted(types))}")
        if key in given:  # never let the later one win silently (as for --set)
            raise UsageError(f"--space {key} is given twice; give it once")
        given.add(key)
        space[key] = parse_range(pair, types[key], space.get(key))
    if not space:
        raise UsageError(f"method {method} declares no tunable settings; pass --space KEY=RANGE")
    return dict(sorted(space.items()))


def produced(tunable: Tunable, grid_points: int | None) -> list[Any]:
    """The values trials can set: every grid point; else each choice, or a range's two ends (the
    config's rules are intervals, so the ends stand for the values between)."""
    if grid_points is not None:
        return grid_values(tunable, grid_points)
    if tunable.kind == "choice":
        return list(tunable.choices)
    cast = int if tunable.kind == "int" else float
    return [cast(tunable.low), cast(tunable.high)]


def check_produced(config, space: dict[str, Tunable], pairs: list[str], grid_points: int | None = None) -> None:
    """Every value a ``--space`` flag lets a trial set passes the checks its run will make, now:
    a bad one would stop the study at that trial, with the study stored and its settings fixed."""
    from harness.ranges import ORDERED

    flags = dict(flag_of(pair) for pair in pairs)  # one flag per key (resolve_space)
    for key, pair in flags.items():
        for value in produced(space[key], grid_points):
            _check_trial(config, {key: value}, f"--space {pair}")
    for low, high in ORDERED:  # both ends of an ordered pair searched: the largest low, the smallest high
        if {low, high} <= set(space) and {low, high} & set(flags):
            corner = {low: max(produced(space[low], grid_points)), high: min(produced(space[high], grid_points))}
            _check_trial(config, corner, " ".join(f"--space {flags[k]}" for k in (low, high) if k in flags))


def _check_trial(config, values: dict[str, Any], flag: str) -> None:
    """``check_run_config`` on the run a trial with ``values`` makes; its error names the flag."""
    import copy

    from harness.validate import check_run_config

    trial = copy.copy(config)
    trial.method_config = {**config.method_config, **values}
    try:
        check_run_config(trial)
    except UsageError as exc:  # its text names `--set KEY`: the user typed --space
        raise UsageError(f"{flag}: {str(exc).removeprefix('--set ')}") from None


def space_settings(space: dict[str, Tunable]) -> dict[str, dict]:
    """The JSON form a study stores and compares on reopening."""
    return {key: tunable.to_dict() for key, tunable in space.items()}


def grid_values(tunable: Tunable, points: int) -> list[Any]:
    """A grid sampler's values for one setting: its choices, or ``points`` values over its range."""
    if tunable.kind == "choice":
        return list(tunable.choices)
    low, high = float(tunable.low), float(tunable.high)
    if points == 1:
        values = [math.sqrt(low * high) if tunable.log else (low + high) / 2]
    elif tunable.log:
        values = [math.exp(math.log(low) + i * (math.log(high) - math.log(low)) / (points - 1)) for i in range(points)]
    else:
        values = [low + i * (high - low) / (points - 1) for i in range(points)]
    if tunable.kind == "int":
        return sorted({int(round(v)) for v in values})
    return [float(f"{v:.6g}") for v in values]


def suggest(trial, key: str, tunable: Tunable) -> Any:
    """Ask an Optuna trial for one setting's value within its range."""
    if tunable.kind == "choice":
        return trial.suggest_categorical(key, list(tunable.choices))
    if tunable.kind == "int":
        return trial.suggest_int(key, int(tunable.low), int(tunable.high), log=tunable.log)
    return trial.suggest_float(key, float(tunable.low), float(tunable.high), log=tunable.log)
