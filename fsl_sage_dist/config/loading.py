"""TOML file + `key=value` overrides -> nested dicts -> the typed sections, one line per mistake.

Types are coerced here (an int is a valid float; NaN and Infinity are not), unknown keys get a
"did you mean"; the value rules are the fields' own (`rules.py`, run as each section is built).
A train.batch_size left at 0 then takes the model registry's default, so the resolved config
(and config.toml) always records the batch size a run used.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from fsl_sage_dist.config.rules import check
from fsl_sage_dist.config.sections import Config
from fsl_sage_dist.errors import ConfigError
from fsl_sage_dist.models.defaults import DEFAULT_BATCH_SIZE


def _describe(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(c) for c in get_args(tp))
    if get_origin(tp) is list:
        return f"a list of {get_args(tp)[0].__name__}"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


def _coerce(key: str, value: Any, tp: Any) -> Any:
    origin = get_origin(tp)
    if origin is Literal:
        check(value in get_args(tp), key, value, _describe(tp))
        return value
    if origin is list:
        (item_tp,) = get_args(tp)
        check(isinstance(value, list), key, value, _describe(tp))
        return [_coerce(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value)]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if tp is float and isinstance(value, float):
        # NaN and Infinity pass every `>` check by accident or not at all, and JSON has neither
        check(math.isfinite(value), key, value, "a finite number")
        return value
    ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
    check(ok, key, value, _describe(tp))
    return value


def choices(key: str) -> tuple[str, ...]:
    """The values a `Literal` key accepts, e.g. `choices("data.name")`."""
    cls, *path, name = [Config, *key.split(".")]
    for section in path:
        cls = typing.get_type_hints(cls)[section]
    return get_args(typing.get_type_hints(cls)[name])


def _unknown_key(key: str, valid: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], valid, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown config key {key!r}{hint} (valid here: {', '.join(valid)})")


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = prefix + name
        if name not in names:
            raise _unknown_key(key, names)
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            check(isinstance(value, dict), key, value, f"a table of {tp.__name__} keys")
            kwargs[name] = _build(tp, value, key + ".")
        else:
            kwargs[name] = _coerce(key, value, tp)
    return cls(**kwargs)


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. rounds=5)")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word such as model.cut=layer2 is meant as a string
    return key.strip().split("."), value


def _set_dotted(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(path)}: {part!r} is a value, not a section")
        node = child
    node[path[-1]] = value


def config_from_dict(data: dict[str, Any]) -> Config:
    try:
        cfg = _build(Config, data)
    except TypeError as err:  # a required nesting mismatch the checks above did not name
        raise ConfigError(str(err)) from err
    if cfg.train.batch_size == 0:
        cfg.train.batch_size = DEFAULT_BATCH_SIZE[cfg.model.name]
    return cfg


def _read_toml(path: Path) -> dict[str, Any]:
    name = repr(str(path))
    if not path.exists():
        raise ConfigError(f"config file {name} not found")
    if not path.is_file():  # a directory, or a FIFO that would block the read forever
        raise ConfigError(f"config file {name} is not a regular file; give a .toml file")
    try:
        return tomllib.loads(path.read_bytes().decode())
    except OSError as err:
        raise ConfigError(f"cannot read config file {name}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"config file {name} is not UTF-8 text ({err.reason} at byte "
            f"{err.start}); TOML files are UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {name} is not valid TOML: {err}") from None


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """The config at `path` (or the built-in default) with `key=value` overrides applied."""
    data = {} if path is None else _read_toml(Path(path))
    for text in overrides:
        key, value = _parse_override(text)
        _set_dotted(data, key, value)
    return config_from_dict(data)
