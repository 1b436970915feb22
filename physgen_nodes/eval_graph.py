"""Evaluation over the ROS 2 graph from Python: each policy through the evaluation graph (cell, VLM,
executor and evaluation nodes in this process, as ``physgen bringup evaluation`` runs them)."""

from __future__ import annotations

from pathlib import Path

from physgen.evaluation.run import EPISODES, EpisodeFile, PolicySpec, key
from physgen.evaluation.suite import scenes


def evaluate_over_ros(specs: list[PolicySpec], tasks: list[str], episodes: int, seed: int, split: str, out: Path,
                      bags: Path | None = None) -> list[dict]:
    """The records of every (policy, task, seed) of ``split``, in the in-process order (task, seed,
    policy). The evaluation node appends to ``OUT/episodes.jsonl`` under each policy's label and
    resumes there; with ``bags``, each policy's episodes are also recorded to ``BAGS/<label>_<split>``
    (a bag that already exists is kept and that graph runs without a recorder)."""
    from physgen_nodes.bringup import run

    for spec in specs:
        bag = None if bags is None else Path(bags) / f"{spec.label}_{split}"
        arguments = {"policy": spec.kind, "model": spec.model, "tasks": tasks, "episodes": episodes, "seed": seed,
                     "split": split, "out_dir": str(out), "bag": None if bag is None or bag.exists() else str(bag)}
        status = run("evaluation", None, [f"evaluation.policy={spec.label}"], arguments,
                     record=bool(arguments["bag"]) or None)
        if status != 0:
            raise SystemExit(status)
    done = {key(r): r for r in EpisodeFile(Path(out) / EPISODES).records}
    return [done[(s.label, t, split, n)] for t, n in scenes(tasks, episodes, seed) for s in specs]
