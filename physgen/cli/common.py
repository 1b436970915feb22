"""What several commands share: common options, the cell config option, progress bars, list arguments."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path

from physgen.config import ConfigError, build, load_yaml
from physgen.types import SPLITS


def cell_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cell-config", type=Path, help="YAML file of CellConfig fields (see config/cell.yaml)")


def model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="for --policy vlm: a model directory or a recipe name")


def cell_config_of(args):
    from physgen.cell.config import CellConfig

    data = load_yaml(args.cell_config) if args.cell_config else {}
    return build(CellConfig, data.get("cell", data), "cell")


def positive(name: str, value: int) -> None:
    if value < 1:
        raise ConfigError(name, value, "a positive integer")


def progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="ep", disable=None, file=sys.stderr, leave=False)


def task_list(spec: str) -> list[str]:
    from physgen.evaluation.plan import task_entries

    return task_entries(spec, counts=False)


def task_entries_arg(spec: str) -> list[str]:
    """``all``, or task names each optionally with its own episode count (``fall_direction:30``)."""
    from physgen.evaluation.plan import task_entries

    return task_entries(spec)


def split_list(text: str) -> list[str]:
    splits = [s.strip() for s in text.split(",") if s.strip()]
    for s in splits:
        if s not in SPLITS:
            raise ConfigError("splits", s, " and/or ".join(SPLITS))
    return splits


def config_options(p: argparse.ArgumentParser, cls, names: Sequence[str], help: Mapping[str, str] = {},
                   choices: Mapping[str, Sequence[str]] = {}, flags: Mapping[str, str] = {}) -> None:
    """An option for each field ``names`` of the config dataclass ``cls`` (``--field-name``, or
    ``flags[name]``), typed as the field. The default is the dataclass's, written there only: the
    option's own default None means "not given" (see :func:`given`)."""
    types = typing.get_type_hints(cls)
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for name in names:
        text = f"{help[name]} " if name in help else ""
        p.add_argument(flags.get(name, "--" + name.replace("_", "-")), dest=name, type=types[name], default=None,
                       choices=choices.get(name), help=f"{text}(default: {defaults[name]})")


def given(args: argparse.Namespace, names: Sequence[str]) -> dict:
    """The options of :func:`config_options` that were given, as config fields."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}
