"""Which episodes a run holds: task entries (``NAME`` or ``NAME:EPISODES``), their scene seeds, and the
``(task, seed)`` pairs every policy of a run sees (matched scenes)."""

from __future__ import annotations

from collections.abc import Sequence

from physgen.config import ConfigError
from physgen.tasks import task_names


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
