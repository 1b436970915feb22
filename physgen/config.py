"""Typed configuration: dataclasses validated once, built from plain mappings (YAML, ROS params, CLI).

Every front-end calls :func:`build`, so a bad value fails the same way everywhere: a
:class:`ConfigError` naming the parameter, the value and what was expected.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is wrong: names the parameter, the value and what was expected."""

    def __init__(self, name: str, value: Any, expected: str):
        self.name, self.value, self.expected = name, value, expected
        super().__init__(f"config {name}={value!r}: expected {expected}")


def require(ok: bool, name: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(name, value, expected)


def in_range(name: str, value: float, lo: float | None = None, hi: float | None = None) -> None:
    """Check lo <= value <= hi (either bound optional)."""
    ok = (lo is None or value >= lo) and (hi is None or value <= hi)
    lo_s = "-inf" if lo is None else lo
    hi_s = "inf" if hi is None else hi
    require(ok, name, value, f"a number in [{lo_s}, {hi_s}]")


def interval(name: str, pair: tuple[float, float], lo: float, hi: float) -> None:
    """Check a (low, high) pair: lo <= low <= high <= hi."""
    in_range(f"{name}[0]", pair[0], lo, hi)
    in_range(f"{name}[1]", pair[1], pair[0], hi)


def one_of(name: str, value: Any, choices: typing.Iterable[Any]) -> None:
    choices = list(choices)
    require(value in choices, name, value, f"one of {choices}")


def build(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, recursively; unknown keys and wrong types are errors.

    ``where`` is the dotted prefix used in error messages (for example ``cell.camera``).
    """
    data = {} if data is None else data
    prefix = f"{where}." if where else ""
    if not isinstance(data, Mapping):
        raise ConfigError(where or cls.__name__, data, f"a mapping of {cls.__name__} fields")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(prefix + unknown[0], data[unknown[0]], f"one of the known keys {sorted(fields)}")
    missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(prefix + missing[0], None, "a value (this setting is required)")
    kwargs = {k: _coerce(hints[k], v, prefix + k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as e:  # __post_init__ names fields relative to the class; add where it sits
        if not prefix:
            raise
        raise ConfigError(prefix + e.name, e.value, e.expected) from None


def _coerce(tp: Any, value: Any, name: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, name)
            except ConfigError as e:
                errors.append(e.expected)
        raise ConfigError(name, value, " or ".join(errors))
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return build(tp, value, name)
    if origin is typing.Literal:
        one_of(name, value, args)
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(name, value, f"a list of {len(args)} values")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{name}[{i}]") for i, v in enumerate(value))
        require(len(value) == len(args), name, value, f"a list of {len(args)} values")
        return tuple(_coerce(a, v, f"{name}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (dict, Mapping):
        require(isinstance(value, Mapping), name, value, "a mapping")
        return {str(k): _coerce(args[1], v, f"{name}.{k}") for k, v in value.items()}
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        require(ok, name, value, "a number")
        return float(value)
    if tp is int:
        require(isinstance(value, int) and not isinstance(value, bool), name, value, "an integer")
        return value
    if tp is bool:
        require(isinstance(value, bool), name, value, "true or false")
        return value
    if tp is str:
        require(isinstance(value, str), name, value, "a string")
        return value
    if tp is Path:
        require(isinstance(value, (str, Path)), name, value, "a path")
        return Path(value)
    if tp is Any:
        return value
    raise TypeError(f"config field {name}: unsupported type {tp!r}")


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a non-mapping is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("file", str(path), "an existing YAML file")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ConfigError("file", str(path), "a YAML mapping at the top level")
    return data


def to_dict(obj: Any) -> Any:
    """A dataclass as plain JSON-ready data (tuples become lists, paths strings)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj
