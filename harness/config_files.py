"""Run configs as files: every run folder gets ``config.toml`` (the whole RunConfig), which
`bench run --config FILE` accepts back; `bench run --from-record RUN` re-runs a stored run's config.
Flags given as well (``--seed 3 --set g_lr=2e-4``) come last, as ``--set`` always does.

TOML because Python reads it without a dependency (``tomllib``); the file is written here by a few
lines for the flat tables a RunConfig has. TOML has no null: an unset value is written ``"none"``,
which ``harness.config.parse_value`` reads back as None. Every value goes through the same parser
and checks as ``--set``; an unknown key or a wrong type is an error naming the file and line.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.config import EvalConfig, RunConfig, TrainConfig, field_types, parse_value
from harness.errors import UsageError
from harness.run_references import find_record

FILE_NAME = "config.toml"
TOP_KEYS = ("method", "dataset", "backbone", "seed", "device", "data_path")
TABLES = {"train": TrainConfig, "eval": EvalConfig}  # and [method_config]: the method's own Config
HEADER = ("# bench run config (harness/config_files.py): `bench run --config config.toml [--seed S] [--set K=V]`\n"
          "# re-runs it; \"none\" means unset.\n")


def _toml_value(value: Any) -> str:
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else "nan" if math.isnan(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def to_toml(config: RunConfig) -> str:
    lines = [HEADER]
    lines += [f"{key} = {_toml_value(getattr(config, key))}" for key in TOP_KEYS]
    for name in TABLES:
        lines += ["", f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in asdict(getattr(config, name)).items()]
    lines += ["", "[method_config]"] + [f"{k} = {_toml_value(v)}" for k, v in dict(config.method_config).items()]
    return "\n".join(lines) + "\n"


def write_config_file(run_dir: Path, config: RunConfig) -> Path:
    from harness.storage import disk_errors

    path = Path(run_dir) / FILE_NAME
    text = to_toml(config)
    with disk_errors("the run's config", path, len(text)):
        path.write_text(text)
    return path


def _line_numbers(text: str) -> dict[tuple[str, str], int]:
    """(table, key) -> line of a TOML file ('' for top-level keys), for errors that point at it."""
    table, found = "", {}
    for number, line in enumerate(text.splitlines(), start=1):
        if header := re.match(r"^\s*\[\s*([^\]\s]+)\s*\]", line):
            table = header.group(1)
            found.setdefault((table, ""), number)
        elif key := re.match(r"^\s*([A-Za-z0-9_\-]+)\s*=", line):
            found.setdefault((table, key.group(1)), number)
    return found


def read_config_file(path: Path) -> tuple[dict[str, Any], dict[tuple[str, str], int]]:
    path = Path(path)
    if path.exists() and not path.is_file():  # a folder errs; a FIFO would block the read for ever
        raise UsageError(f"--config {path}: not a regular file")
    try:
        text = path.read_text()
        return tomllib.loads(text), _line_numbers(text)
    except OSError as exc:
        raise UsageError(f"--config {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a TOML config ({exc})") from None


def _text(value: Any) -> str:
    """A TOML value as the text ``--set`` would give, so one parser types and checks both."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    return str(value)


def check_native_type(value: Any, annotation: Any, where: str) -> None:
    """What TOML typed itself must be the field's type: a string is no flag (``compile = "yes"`` ran
    torch.compile) and a list holds plain values (``metrics = [["fd"]]`` was flattened). Text that
    ``--set`` would parse (numbers, "none") goes on to the shared parser."""
    import typing

    kinds = {a for a in typing.get_args(annotation)} or {annotation}
    if bool in kinds and not isinstance(value, bool) and not (value == "none" and type(None) in kinds):
        raise UsageError(f"{where} = {value!r}: expected true or false")
    if isinstance(value, list) and any(isinstance(item, (list, dict)) for item in value):
        raise UsageError(f"{where} = {value!r}: expected a list of plain values")


def to_overrides(data: dict[str, Any], where: str, lines: dict[tuple[str, str], int],
                 method_config_cls: type) -> tuple[dict[str, Any], list[str]]:
    """(top-level values, ``section.key=value`` overrides), each key and type checked, errors at file:line."""
    def at(table: str, key: str) -> str:
        line = lines.get((table, key))
        return f"{where}:{line}" if line else where

    classes = {**TABLES, "method_config": method_config_cls}
    top, overrides = {}, []
    for key, value in data.items():
        if isinstance(value, dict) and key in classes:
            types = field_types(classes[key])
            for sub, sub_value in value.items():
                if sub not in types:
                    raise UsageError(f"{at(key, sub)}: unknown key '{sub}' in [{key}]; valid: {', '.join(sorted(types))}")
                if isinstance(sub_value, dict):
                    raise UsageError(f"{at(key, sub)}: '{key}.{sub}' is a table; expected a value")
                check_native_type(sub_value, types[sub], f"{at(key, sub)}: {key}.{sub}")
                try:
                    parse_value(_text(sub_value), types[sub], f"{key}.{sub}")
                except UsageError as exc:
                    raise UsageError(f"{at(key, sub)}: {str(exc).replace('--set ', '')}") from None
                section = "method" if key == "method_config" else key  # split_overrides' section names
                overrides.append(f"{section}.{sub}={_text(sub_value)}")
        elif key in TOP_KEYS:
            if (key != "seed" and not isinstance(value, str)) or value == "":
                raise UsageError(f"{at('', key)}: {key} = {value!r}: expected a name or path (text), or \"none\"")
            top[key] = None if str(value).lower() == "none" else value
        else:
            valid = ", ".join([*TOP_KEYS, *(f"[{t}]" for t in classes)])
            raise UsageError(f"{at('', key)}: unknown key '{key}'; valid: {valid}")
    if "seed" in top and (not isinstance(top["seed"], int) or isinstance(top["seed"], bool)):
        raise UsageError(f"{at('', 'seed')}: seed = {top['seed']!r}: expected a whole number")
    return top, overrides


def configure_from_file(config_file: Path | None, from_record: str | None, results: Path, method: str | None,
                        dataset: str | None, **flags: Any) -> RunConfig:
    """A RunConfig from a config file or a stored run, then the flags given with it (the usual checks)."""
    from baselines import METHODS
    from harness.build import config_from_record, configure, read_run_record

    if config_file is not None and from_record is not None:
        raise UsageError("pass one of --config FILE and --from-record RUN")
    if config_file is not None:
        data, lines = read_config_file(config_file)
        where = str(config_file)
    else:
        record_path = find_record(from_record, results)  # what `bench show` accepts, found the same way
        record = read_run_record(record_path)  # a file that holds no run record: a usage error (exit 2)
        stored = config_from_record(record, str(record_path))
        data = {**{k: getattr(stored, k) for k in TOP_KEYS}, "train": asdict(stored.train),
                "eval": asdict(stored.eval), "method_config": dict(stored.method_config)}
        data = {k: v for k, v in data.items() if v is not None}
        lines, where = {}, str(record_path)
    for flag, given, key in (("--method", method, "method"), ("--dataset", dataset, "dataset")):
        if given is not None and data.get(key) not in (None, given):
            raise UsageError(f"{flag} {given} differs from {where}'s {key} '{data[key]}'; drop the flag or edit the file")
    chosen_method = method or data.get("method")
    if not chosen_method:
        raise UsageError(f"{where}: names no method; add method = \"...\" or pass --method")
    top, overrides = to_overrides(data, where, lines, METHODS.get(str(chosen_method)).Config)
    seed = flags.pop("seed")
    return configure(str(chosen_method), dataset or top.get("dataset") or "digits",
                     **{**flags, "backbone": flags.get("backbone") or top.get("backbone"),
                        "seed": seed if seed is not None else top.get("seed", 0),
                        "device": flags.get("device") or top.get("device") or "auto",
                        "data_path": flags.get("data_path") or top.get("data_path"),
                        "base_overrides": overrides, "overrides": flags.get("overrides", [])})


def configure_run(method: str | None, dataset: str | None, config_file: Path | None, from_record: str | None,
                  results: Path, keep: str | None, **flags: Any) -> RunConfig:
    """`bench run`'s config: from flags alone, or from a file or stored run with the flags on top."""
    from harness.build import configure

    if keep is not None:
        flags["overrides"] = [*flags.get("overrides", []), f"train.keep_snapshots={keep}"]
    if config_file is not None or from_record is not None:
        return configure_from_file(config_file, from_record, results, method, dataset, **flags)
    if method is None:
        raise UsageError("--method is required (or --resume RUN_ID, --config FILE, --from-record RUN)")
    return configure(method, dataset or "digits", **{**flags, "seed": flags.get("seed") or 0,
                                                     "device": flags.get("device") or "auto"})
