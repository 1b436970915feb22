"""Tasks by name. A task is one module in ``physgen/tasks/`` whose class is decorated with
:func:`register`, plus ``sim/tasks/<name>.yaml`` (its parameters and variant pools)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from physgen.config import ConfigError, build, load_yaml, require
from physgen.resources import sim_path
from physgen.tasks.base import Task
from physgen.tasks.variants import VariantSpace

_CLASSES: dict[str, type[Task]] = {}
_NOT_TASKS = {"base", "registry", "variants", "towers", "oracle", "captions"}


def register(cls: type[Task]) -> type[Task]:
    if cls.name in _CLASSES and _CLASSES[cls.name] is not cls:
        raise ValueError(f"task {cls.name!r} registered twice")
    _CLASSES[cls.name] = cls
    return cls


@cache
def _discover() -> None:
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name not in _NOT_TASKS:
            importlib.import_module(f"physgen.tasks.{mod.name}")


def task_names() -> list[str]:
    """Registered tasks in suite order (the order of ``sim/suite.yaml``), then any others."""
    _discover()
    order = load_yaml(sim_path("suite.yaml")).get("tasks", [])
    return [n for n in order if n in _CLASSES] + sorted(n for n in _CLASSES if n not in order)


@cache
def load_task(name: str) -> Task:
    """The task ``name`` with its YAML applied; unknown names and bad YAML are ConfigErrors."""
    _discover()
    if name not in _CLASSES:
        raise ConfigError("task", name, f"one of {task_names()}")
    cls = _CLASSES[name]
    where = f"sim/tasks/{name}.yaml"
    data = load_yaml(sim_path("tasks", f"{name}.yaml"))
    unknown = set(data) - {"task", "format_penalty", "params", "variants"}
    require(not unknown, f"{where}", sorted(unknown), "only the keys task, format_penalty, params, variants")
    require(data.get("task") == name, f"{where}:task", data.get("task"), repr(name))
    shared = load_yaml(sim_path("variants.yaml"))
    factors = {**shared["factors"], **(data.get("variants") or {})}
    space = VariantSpace.from_yaml(factors, shared["lighting"], f"{where}:variants")
    params = build(cls.Params, data.get("params"), f"{where}:params")
    penalty = data.get("format_penalty", -0.5)
    require(isinstance(penalty, (int, float)) and -10 <= penalty <= 0, f"{where}:format_penalty", penalty,
            "a number in [-10, 0]")
    return cls(params, space, float(penalty))
