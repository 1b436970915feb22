"""Run policies over tasks in-process: every policy sees the identical scenes (matched seeds)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from physgen.cell.cell import RobotCell
from physgen.cell.config import CellConfig
from physgen.config import ConfigError
from physgen.evaluation.episode import run_episode
from physgen.policy.base import Policy
from physgen.tasks import load_task, task_names
from physgen.tasks.oracle import Oracles


def episode_seeds(seed: int, episodes: int) -> list[int]:
    """The seeds of a run: ``seed, seed + 1, ...``; the same for every policy and task."""
    return [seed + i for i in range(episodes)]


def task_plan(tasks: Sequence[str], episodes: int) -> list[tuple[str, int]]:
    """``[(task, episodes)]`` from entries ``NAME`` (``episodes`` episodes) or ``NAME:EPISODES`` (its
    own count: more where a number must be sharp, e.g. the tasks a model was trained on)."""
    names, plan = task_names(), []
    for entry in tasks:
        name, _, count = str(entry).partition(":")
        n = int(count) if count.strip().isdigit() else (episodes if not count else 0)
        if name.strip() not in names or n < 1:
            raise ConfigError("tasks", entry, f"NAME or NAME:EPISODES (a positive count), NAME one of {names}")
        plan.append((name.strip(), n))
    return plan


def task_entries(text: str, counts: bool = True) -> list[str]:
    """``all`` (every task, in suite order) or comma-separated task names, each optionally
    ``NAME:EPISODES`` when ``counts`` (see :func:`task_plan`); checked, a ConfigError naming the entry."""
    names = task_names()
    if text.strip() == "all":
        return names
    entries = [t.strip() for t in text.split(",") if t.strip()]
    if counts:
        task_plan(entries, 1)
    for t in entries:
        if not counts and t not in names:
            raise ConfigError("tasks", t, f"'all' or names from {names}")
    return entries


def scenes(tasks: Sequence[str], episodes: int, seed: int) -> list[tuple[str, int]]:
    """The ``(task, scene seed)`` pairs of a run, in order (see :func:`task_plan` for ``tasks``)."""
    return [(name, s) for name, n in task_plan(tasks, episodes) for s in episode_seeds(seed, n)]


def evaluate(policies: list[Policy], tasks: list[str], episodes: int, seed: int, split: str,
             oracles: Oracles, cell_config: CellConfig | None = None,
             on_episode: Callable[[dict], None] | None = None) -> tuple[list[dict], dict]:
    """Run every policy on every task for the same seeds; returns episode records and the physics record."""
    records: list[dict] = []
    with RobotCell(cell_config) as cell:
        for name, s in scenes(tasks, episodes, seed):
            task = load_task(name)
            for policy in policies:
                rec = run_episode(cell, task, s, split, policy, oracles).to_dict()
                records.append(rec)
                if on_episode is not None:
                    on_episode(rec)
        physics = cell.physics_record()
    return records, physics
