"""ROS parameters <-> the core's config dataclasses. Nested fields become dotted parameter names
(``physics.timestep``); every value is checked once by :func:`physgen.config.build`, so a bad
parameter stops the node at start with its name, value and what was expected."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

from physgen.config import build

T = TypeVar("T")


def defaults(cls: type, prefix: str = "") -> dict[str, Any]:
    """``{dotted name: default}`` for every field of dataclass ``cls`` (ROS-typed: lists, str paths)."""
    out: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name = prefix + f.name
        tp = hints[f.name]
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            value = None
        if dataclasses.is_dataclass(tp) and value is not None:
            out.update(defaults(tp, name + "."))
        else:
            out[name] = _ros_value(value)
    return out


def _ros_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_ros_value(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def declare_config(node, cls: type[T], prefix: str = "", required: tuple[str, ...] = ()) -> T:
    """Declare ``cls``'s fields as parameters of ``node`` (under ``prefix``), read them and build
    the config. Fields without a default must be given (``required``) or the build fails."""
    from rcl_interfaces.msg import ParameterDescriptor

    values = {}
    for name, default in defaults(cls).items():
        if default is None and name not in required:
            continue
        desc = ParameterDescriptor(dynamic_typing=True)
        param = node.declare_parameter(prefix + name, default, desc) if default is not None else \
            node.declare_parameter(prefix + name, descriptor=desc)
        value = param.value
        if value is not None:
            values[name] = list(value) if isinstance(value, (list, tuple)) or hasattr(value, "tolist") else value
    where = prefix.rstrip(".")  # errors name the parameter exactly as it is set
    return build(cls, nest(values), where)
