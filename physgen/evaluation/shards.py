"""Shards of one evaluation run across machines, and merging them back into one run.

``physgen eval --shard I/N`` runs the scenes at positions I, I + N, ... of the run's order
(:func:`run_order`: split, task, seed): whole scenes, so every policy's episodes of a scene stay
together and paired comparisons survive; N shards are disjoint and together the whole run. Each
shard's directory holds ``run.json`` (:func:`write_manifest`: the run's arguments and the shard) beside
its resumable ``episodes.jsonl``; :func:`merge` checks that the shards are one run, complete and
consistent, and writes the records in the unsharded run's order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from physgen.config import ConfigError, in_range
from physgen.evaluation.plan import scenes
from physgen.evaluation.run import EPISODES, EpisodeFile, PolicySpec, key

MANIFEST = "run.json"
MANIFEST_VERSION = 1
Item = tuple[str, str, int]  # (split, task, scene seed)


@dataclass(frozen=True)
class Shard:
    """``index/count``: the scenes at positions index, index + count, ... of a run (0-based)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        in_range("shard", self.count, 1, 1_000_000)
        if not 0 <= self.index < self.count:
            raise ConfigError("shard", str(self), "I/N with 0 <= I < N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = str(text).partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise ConfigError("shard", text, "I/N: shard I (0-based) of N, e.g. 0/4")
        return cls(int(index), int(count))

    def take(self, items: list) -> list:
        return items[self.index::self.count]

    def part(self, k: int, n: int) -> Shard:
        """The k-th of n shares of this shard, as a shard of the whole run."""
        return Shard(self.index + self.count * k, self.count * n)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"



def run_order(jobs: list[tuple[str, list[str]]], episodes: int, seed: int) -> list[Item]:
    """Every scene of ``jobs`` (``(split, tasks)``) in the run's order."""
    return [(split, t, s) for split, tasks in jobs for t, s in scenes(tasks, episodes, seed)]


def planned(specs: list[PolicySpec], items: list[Item], seed: int) -> list[tuple[str, str, str, int]]:
    """The episode keys (label, task, split, seed) of ``items``, in order: each scene, its policies."""
    return [(p.label, t, split, s) for split, t, s in items for p in specs if p.runs(s - seed)]


def write_manifest(out: Path, run: dict[str, Any], shard: Shard) -> None:
    """``OUT/run.json``: ``run`` (the arguments that decide the run's episodes and report: policies,
    tasks, episodes, seed, splits, ...) and the shard. A directory holding another run's manifest is
    an error: its episodes belong to that run."""
    path = Path(out) / MANIFEST
    doc = {"version": MANIFEST_VERSION, "run": run, "shard": str(shard)}
    if path.exists():
        old = read_manifest(Path(out))
        if (old["run"], old["shard"]) != (json.loads(json.dumps(run)), str(shard)):
            raise ConfigError("out", str(out), f"a directory of this run (its {MANIFEST} is of another run or shard: "
                                               f"shard {old['shard']}, {old['run']})")
        return
    path.write_text(json.dumps(doc, indent=2))


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    try:
        doc = json.loads(path.read_text())
        if doc.get("version") != MANIFEST_VERSION or not isinstance(doc.get("run"), dict):
            raise ValueError(f"version {doc.get('version')}, expected {MANIFEST_VERSION}")
        Shard.parse(doc["shard"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ConfigError("shard directory", str(directory), f"a `physgen eval` output with a readable {MANIFEST} "
                                                             f"({e})") from e
    return doc


def run_episodes(run: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    """Every episode key of a (whole) run described by a manifest's ``run``, in the run's order."""
    specs = [PolicySpec.parse(p) for p in run["policies"]]
    order = run_order([(split, run["tasks"]) for split in run["splits"]], run["episodes"], run["seed"])
    return planned(specs, order, run["seed"])


def merge(dirs: list[Path], out: Path) -> tuple[dict[str, Any], list[dict]]:
    """The shards in ``dirs`` as one run in ``out``: ``(the run's arguments, its records in the run's
    order)``, the records also written to ``OUT/episodes.jsonl`` and the manifest as shard 0/1. Refused
    (ConfigError) unless the shards are of one run, each shard once, all N present and complete, and
    every policy has one fingerprint across them."""
    docs = {Path(d): read_manifest(Path(d)) for d in dirs}
    runs = {json.dumps(doc["run"], sort_keys=True) for doc in docs.values()}
    if len(runs) != 1:
        raise ConfigError("shards", [str(d) for d in docs], "directories of one run (their run.json differ "
                                                            "beyond the shard)")
    shards = [Shard.parse(doc["shard"]) for doc in docs.values()]
    count = shards[0].count
    indices = sorted(s.index for s in shards)
    if any(s.count != count for s in shards) or indices != list(range(count)):
        raise ConfigError("shards", [str(s) for s in shards], f"each of the shards 0/{count} .. {count - 1}/{count} "
                                                              "exactly once")
    run = next(iter(docs.values()))["run"]
    found: dict[tuple, dict] = {}
    for d in docs:
        for r in EpisodeFile(d / EPISODES).records:
            found.setdefault(key(r), r)
    wanted = run_episodes(run)
    missing = [k for k in wanted if k not in found]
    if missing:
        raise ConfigError("shards", [str(d) for d in docs], f"complete shards ({len(missing)} episodes missing, "
                                                            f"first {missing[0]}: run that shard again to finish it)")
    prints: dict[str, set] = {}
    for k in wanted:
        prints.setdefault(k[0], set()).add(found[k].get("fingerprint"))
    mixed = {label: sorted(map(str, p)) for label, p in prints.items() if len(p) > 1}
    if mixed:
        raise ConfigError("shards", mixed, "one configuration per policy (its fingerprint differs between shards)")
    out = Path(out)
    if (out / EPISODES).exists():
        raise ConfigError("out", str(out), f"a directory without an {EPISODES} (the merged run is written new)")
    log = EpisodeFile(out / EPISODES)
    for k in wanted:
        log.append(found[k])
    write_manifest(out, run, Shard())
    return run, [found[k] for k in wanted]
