"""``physgen eval``: named policies on the identical scenes of every task, one record per episode,
resumable.

Each record (``EpisodeRecord.to_dict()``) also carries ``model`` (the policy's description, names
left out: the record's ``policy`` is the label) and
``fingerprint``: a hash of everything that decides the episode besides its (task, seed, split): the
policy's description, the cell's config and the physics settings. Records are appended to
``OUT/episodes.jsonl`` as episodes finish, each line flushed and synced; a run started again with the
same arguments skips the episodes already there (a line cut by a kill is dropped and run again), so a
killed run finishes with the same records as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from physgen.cell.cell import RobotCell
from physgen.cell.config import CellConfig
from physgen.config import ConfigError, one_of, require, to_dict
from physgen.evaluation.episode import run_episode
from physgen.evaluation.plan import scenes
from physgen.evaluation.summary import _json_default
from physgen.policy.base import Policy
from physgen.policy.factory import POLICIES, make_policy
from physgen.tasks import load_task
from physgen.tasks.oracle import Oracles

EPISODES = "episodes.jsonl"


@dataclass(frozen=True)
class PolicySpec:
    """A policy as the command line names it: ``expert``, ``chance``, ``vlm:MODEL``, each optionally
    ``LABEL=`` first (the label is its row in records and matrices; default: the kind, or the
    model directory's run name for ``vlm``)."""

    label: str
    kind: str
    model: str | None = None
    shard: tuple[int, int] = (0, 1)  # (k, n): only the scenes whose index in their task's run is k modulo n

    def runs(self, index: int) -> bool:
        """Whether this policy runs a task's ``index``-th scene (a training seed's share of the base's scenes)."""
        return index % self.shard[1] == self.shard[0]

    @classmethod
    def parse(cls, text: str) -> PolicySpec:
        label, _, body = text.rpartition("=") if "=" in text else ("", "", text)
        kind, _, model = body.partition(":")
        one_of("policy", kind, POLICIES)
        require(kind != "vlm" or bool(model), "policy", text, "vlm:MODEL (a model directory or recipe name)")
        require(kind == "vlm" or not model, "policy", text, f"{kind} without a model")
        if not label:
            label = kind if kind != "vlm" else _run_name(model)
        require(bool(label.strip()) and "," not in label, "policy", text, "a label without commas")
        return cls(label.strip(), kind, model or None)

    def make(self, seed: int, oracles: Oracles | None = None):
        """The policy, named by the label (:func:`physgen.policy.factory.make_policy`)."""
        return make_policy(self.kind, seed, self.model, oracles, label=self.label)

    @property
    def text(self) -> str:
        """The spec as :meth:`parse` reads it, label first (the seed share is not part of it)."""
        return f"{self.label}={self.kind}" + (f":{self.model}" if self.model else "")


def _run_name(model: str) -> str:
    """``runs/sft_fd/model`` -> ``sft_fd``; a recipe name stays itself."""
    p = Path(model)
    return p.parent.name if p.name == "model" and p.parent.name else p.name


def fingerprint(description: dict, cell: dict, physics: dict) -> str:
    """A short hash of what decides an episode besides its scene: the policy's description (without
    names: a label is not configuration), the cell's config and the physics settings. In-process and
    over the ROS graph the same configuration gives the same fingerprint."""
    doc = json.dumps({"policy": without_names(description), "cell": cell, "physics": physics}, sort_keys=True,
                     default=str)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def without_names(value):
    """A policy description without its names (the record's ``policy`` holds the label)."""
    if isinstance(value, dict):
        return {k: without_names(v) for k, v in value.items() if k != "name"}
    if isinstance(value, list):
        return [without_names(v) for v in value]
    return value


def key(record: dict) -> tuple[str, str, str, int]:
    return record["policy"], record["task"], record["split"], int(record["seed"])


class EpisodeFile:
    """``episodes.jsonl`` as an append-only log that survives a kill: complete lines are records, a
    cut last line is removed on open."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records = self._read()

    def _read(self) -> list[dict]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1  # everything after the last newline was cut by a kill
        records = []
        for n, line in enumerate(data[:end].splitlines(), 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ConfigError("out", str(self.path), f"a readable episodes.jsonl (line {n}: {e})") from e
        if end < len(data):
            with self.path.open("r+b") as f:
                f.truncate(end)
        return records

    def append(self, record: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record, default=_json_default) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.records.append(record)


def evaluate_resumable(specs: list[PolicySpec], tasks: list[str], episodes: int, seed: int, split: str,
                       out: Path, cell_config: CellConfig | None = None,
                       on_episode: Callable[[dict], None] | None = None) -> list[dict]:
    """Run every policy of ``specs`` on every task for the same seeds (each on its shard of them),
    skipping the episodes ``OUT/episodes.jsonl`` already holds (``on_episode`` sees those too); returns
    all the run's records in a fixed order (task, seed, policy). A record of the same episode with
    another fingerprint is an error: a different configuration belongs in another directory."""
    items = [(split, t, s) for t, s in scenes(tasks, episodes, seed)]
    done = evaluate_items(specs, items, seed, out, cell_config, on_episode)
    return [done[(p.label, t, split, s)] for _, t, s in items for p in specs if p.runs(s - seed)]


def run_plan(plan: Iterable[tuple], episode: Callable[..., dict], log: EpisodeFile | None = None,
             on_episode: Callable[[dict, str], None] | None = None,
             stopped: Callable[[], bool] | None = None) -> list[dict] | None:
    """The one resumable run: each planned episode's record, in plan order. A plan entry is ``(split,
    task, scene seed, policy label, *more)``. An episode ``log`` holds is not run again (``on_episode``
    sees it as ``"resumed"``); any other is run by ``episode(split, task, seed, label, *more)``, appended
    to ``log`` and seen as ``"ran"``. An empty label is the first record's policy: such an episode, when
    the log held it, was run again only to learn that (``"known"``, kept once). Returns None when
    ``stopped()`` says so before an episode."""
    done = {key(r): r for r in log.records} if log is not None else {}
    learned, records = "", []
    for split, task, seed, label, *more in plan:
        if stopped is not None and stopped():
            return None
        label = label or learned
        rec, status = done.get((label, task, split, seed)) if label else None, "resumed"
        if rec is None:
            rec, status = episode(split, task, seed, label, *more), "ran"
            learned = learned or rec["policy"]
            if key(rec) in done:
                rec, status = done[key(rec)], "known"
            else:
                if log is not None:
                    log.append(rec)
                done[key(rec)] = rec
        records.append(rec)
        if on_episode is not None:
            on_episode(rec, status)
    return records


def evaluate_items(specs: list[PolicySpec], items: list[tuple[str, str, int]], seed: int, out: Path,
                   cell_config: CellConfig | None = None,
                   on_episode: Callable[[dict], None] | None = None) -> dict[tuple, dict]:
    """The episodes of ``items`` (split, task, scene seed), each run by the policies whose shard holds
    the scene (its index counted from ``seed``), resumed from ``OUT/episodes.jsonl``; returns every
    record there by :func:`key`."""
    labels = [s.label for s in specs]
    require(len(set(labels)) == len(labels), "policy", labels, "distinct labels (LABEL=... to tell them apart)")
    cell_config = cell_config or CellConfig()
    log = EpisodeFile(Path(out) / EPISODES)
    oracles = Oracles(cell_config.physics)
    policies = {s.label: s.make(seed, oracles) for s in specs}
    try:
        with RobotCell(cell_config) as cell:
            physics = cell.physics_record()
            prints = {p.name: fingerprint(p.describe(), to_dict(cell_config), physics) for p in policies.values()}
            for r in log.records:
                name = key(r)
                if name[0] in prints and r.get("fingerprint") != prints[name[0]]:
                    raise ConfigError("out", str(out), f"a directory without episodes of another configuration "
                                                       f"({name} has fingerprint {r.get('fingerprint')}, this run "
                                                       f"{prints[name[0]]})")

            def episode(split: str, task: str, s: int, label: str) -> dict:
                policy = policies[label]
                rec = run_episode(cell, load_task(task), s, split, policy, oracles).to_dict()
                return rec | {"model": without_names(policy.describe()), "fingerprint": prints[label]}

            plan = [(split, t, s, spec.label) for split, t, s in items for spec in specs if spec.runs(s - seed)]
            run_plan(plan, episode, log, on_episode and (lambda rec, _status: on_episode(rec)))
    finally:
        for p in policies.values():
            p.close()
        oracles.close()
    return {key(r): r for r in log.records}


def evaluate_policies(policies: list[Policy], tasks: list[str], episodes: int, seed: int, split: str,
                      oracles: Oracles, cell_config: CellConfig | None = None,
                      on_episode: Callable[[dict], None] | None = None) -> tuple[list[dict], dict]:
    """Run every policy on every task for the same seeds (:func:`run_plan` without a log); returns
    episode records and the physics record."""
    by_name = {p.name: p for p in policies}
    with RobotCell(cell_config) as cell:
        def episode(split_: str, name: str, s: int, label: str) -> dict:
            return run_episode(cell, load_task(name), s, split_, by_name[label], oracles).to_dict()

        plan = [(split, name, s, p.name) for name, s in scenes(tasks, episodes, seed) for p in policies]
        records = run_plan(plan, episode, on_episode=on_episode and (lambda rec, _status: on_episode(rec)))
        physics = cell.physics_record()
    return records, physics
