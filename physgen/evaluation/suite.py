"""Run policies over tasks in-process: every policy sees the identical scenes (matched seeds)."""

from __future__ import annotations

from collections.abc import Callable

from physgen.cell.cell import RobotCell
from physgen.cell.config import CellConfig
from physgen.evaluation.episode import run_episode
from physgen.policy.base import Policy
from physgen.tasks import load_task
from physgen.tasks.oracle import Oracles


def episode_seeds(seed: int, episodes: int) -> list[int]:
    """The seeds of a run: ``seed, seed + 1, ...``; the same for every policy and task."""
    return [seed + i for i in range(episodes)]


def evaluate(policies: list[Policy], tasks: list[str], episodes: int, seed: int, split: str,
             oracles: Oracles, cell_config: CellConfig | None = None,
             on_episode: Callable[[dict], None] | None = None) -> tuple[list[dict], dict]:
    """Run every policy on every task for the same seeds; returns episode records and the physics record."""
    records: list[dict] = []
    with RobotCell(cell_config) as cell:
        for name in tasks:
            task = load_task(name)
            for s in episode_seeds(seed, episodes):
                for policy in policies:
                    rec = run_episode(cell, task, s, split, policy, oracles).to_dict()
                    records.append(rec)
                    if on_episode is not None:
                        on_episode(rec)
        physics = cell.physics_record()
    return records, physics
