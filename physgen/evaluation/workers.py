"""Spread one evaluation over processes, ROS graphs and machines, with the records of one process.

A run's scenes come in one order (:func:`run_order`: split, task, seed); every policy runs on each
scene it holds (its :meth:`~physgen.evaluation.run.PolicySpec.runs` share). A :class:`Shard` ``I/N``
takes every N-th scene from the I-th on, so shards hold whole scenes (paired comparisons survive)
and are disjoint; ``workers`` split a shard the same way. A worker is a process running
:func:`~physgen.evaluation.run.evaluate_items` (``via`` inprocess) or one evaluation graph
(``physgen bringup evaluation``, in a ROS domain of its own) serving every policy and split of its
share (``via`` ros); each keeps a resumable ``OUT/parts/<via>-<k>/episodes.jsonl``, followed by one
progress bar, and its records are merged into ``OUT/episodes.jsonl`` in the run's order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from physgen.cell.config import CellConfig
from physgen.config import ConfigError, in_range, one_of
from physgen.evaluation.progress import EpisodeBar, PartFollower
from physgen.evaluation.run import EPISODES, EpisodeFile, PolicySpec, evaluate_items, key
from physgen.evaluation.shards import Item, Shard, planned, run_order
from physgen.policy.factory import uses_image
from physgen.tasks import task_names
from physgen.types import SPLITS

PARTS = "parts"
PLAN_VERSION = 1  # the evaluation node's plan file: write_plan, read_plan
VIAS = ("inprocess", "ros")


def evaluate_parallel(specs: list[PolicySpec], jobs: list[tuple[str, list[str]]], episodes: int, seed: int,
                      out: Path, workers: int = 1, cell_config: CellConfig | None = None, via: str = "inprocess",
                      shard: Shard | None = None, bags: Path | None = None, progress: bool = False) -> list[dict]:
    """The records of every policy on the scenes of ``shard`` of ``jobs``, run by ``workers`` processes
    or graphs (see the module docstring), resumed from ``OUT`` and returned in the run's order. With
    ``bags`` (via ros) each graph records its episodes to ``BAGS/<part>`` (kept when it exists)."""
    one_of("via", via, VIAS)
    in_range("workers", workers, 1, 64)
    if via == "ros" and cell_config is not None:
        raise ConfigError("cell-config", "given", "none with via ros (the cell node takes its settings from "
                                                  "config/evaluation.yaml)")
    out = Path(out)
    order = (shard or Shard()).take(run_order(jobs, episodes, seed))
    wanted = planned(specs, order, seed)
    direct = via == "inprocess" and workers == 1  # this process, straight into OUT/episodes.jsonl
    if not direct:  # scenes whose episodes OUT already holds (an earlier run, merged shards) are not dealt out
        done = {key(r) for r in EpisodeFile(out / EPISODES).records}
        order = [item for item in order if not set(planned(specs, [item], seed)) <= done]
    shares = [order[k::workers] for k in range(workers)]
    parts = [out] if direct else [out / PARTS / f"{via}-{k}" for k in range(workers)]
    follower = PartFollower([p / EPISODES for p in parts] + ([] if direct else [out / EPISODES]))
    counted: set = set()
    with EpisodeBar(len(wanted), enabled=progress) as bar:
        expected = set(wanted)

        def tick() -> None:
            for r in follower.new_records():
                if key(r) in expected and key(r) not in counted:
                    counted.add(key(r))
                    bar.add(r)

        if direct:
            evaluate_items(specs, shares[0], seed, out, cell_config, lambda _r: tick())
        elif via == "inprocess":
            _in_processes(specs, *_busy(shares, parts), seed, cell_config, tick)
        else:
            _graphs(specs, *_busy(shares, parts), seed, bags, tick)
        tick()
    return merge_parts(out, parts, wanted)


def merge_parts(out: Path, parts: list[Path], wanted: list[tuple]) -> list[dict]:
    """Append the records of ``wanted`` found in ``parts`` to ``OUT/episodes.jsonl`` (each once, in
    ``wanted``'s order) and return them in that order; a missing one is an error naming it."""
    log = EpisodeFile(Path(out) / EPISODES)
    have = {key(r): r for r in log.records}
    found = {key(r): r for part in parts if Path(part) != Path(out) for r in EpisodeFile(part / EPISODES).records}
    missing = [k for k in wanted if k not in have and k not in found]
    if missing:
        raise RuntimeError(f"{len(missing)} episodes have no record (first: {missing[0]}); run again to resume")
    for k in wanted:
        if k not in have:
            log.append(found[k])
            have[k] = found[k]
    return [have[k] for k in wanted]


def _busy(shares: list[list[Item]], parts: list[Path]) -> tuple[list, list]:
    """The workers with scenes to run: their shares and parts."""
    busy = [(share, part) for share, part in zip(shares, parts) if share]
    return [b[0] for b in busy], [b[1] for b in busy]


def _in_processes(specs, shares, parts: list[Path], seed: int, cell_config, tick) -> None:
    import multiprocessing

    if not shares:
        return
    args = [(specs, share, seed, part, cell_config) for share, part in zip(shares, parts)]
    with multiprocessing.get_context("spawn").Pool(len(args)) as pool:
        result = pool.map_async(_evaluate_share, args)
        while not result.ready():
            tick()
            result.wait(0.5)
        result.get()  # a worker's exception, raised here


def _evaluate_share(job) -> None:
    """A worker process's share; its own progress bars (model loading) stay off the console's one bar."""
    specs, share, seed, part, cell_config = job
    if any(s.kind == "vlm" for s in specs):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    evaluate_items(specs, share, seed, part, cell_config)


# --- ROS graphs ------------------------------------------------------------------------------------
def worker_domains(workers: int, base: int | None = None) -> list[int]:
    """``workers`` ROS domain ids in 1..100, none equal to ``base`` (default: this process's)."""
    base = int(os.environ.get("ROS_DOMAIN_ID") or 0) if base is None else base
    return [(base + k) % 100 + 1 for k in range(workers)]


def write_plan(path: Path, specs: list[PolicySpec], items: list[Item], seed: int, frames: bool = False) -> None:
    """The evaluation node's ``plan``: its episodes in order, ``[[split, task, seed, label, frame], ...]``;
    ``frame`` is whether the episode's scene is drawn: for a policy that looks at it, or every one
    with ``frames`` (a recording)."""
    looks = {s.label: frames or uses_image(s.kind) for s in specs}
    episodes = [[split, t, s, label, looks[label]] for label, t, split, s in planned(specs, items, seed)]
    path.write_text(json.dumps({"version": PLAN_VERSION, "episodes": episodes}))


def read_plan(path: str) -> list[tuple[str, str, int, str, bool]]:
    """A ``plan`` file's episodes; a ConfigError naming ``plan`` when it cannot be read as one."""
    try:
        data = json.loads(Path(path).read_text())
        if data.get("version") != PLAN_VERSION:
            raise ValueError(f"version {data.get('version')}, expected {PLAN_VERSION}")
        episodes = [(str(e[0]), str(e[1]), int(e[2]), str(e[3]), bool(e[4]) if len(e) > 4 else True)
                    for e in data["episodes"]]
    except (OSError, ValueError, TypeError, KeyError, IndexError) as e:
        raise ConfigError("plan", path, f"a readable plan file {{'version': {PLAN_VERSION}, 'episodes': "
                                        f"[[split, task, seed, label, frame], ...]}} ({e})") from e
    for split, name, *_ in episodes:
        one_of("plan: split", split, SPLITS)
        one_of("plan: task", name, tuple(task_names()))
    return episodes


def graph_command(specs: list[PolicySpec], plan: Path, seed: int, out_dir: Path, bag: Path | None) -> list[str]:
    """``physgen bringup evaluation`` running ``plan`` with every policy of ``specs`` in its VLM node;
    the camera streams only into a recording (else the one frame of each scene a policy looks at)."""
    cmd = [sys.executable, "-m", "physgen.cli", "bringup", "evaluation", "--seed", str(seed),
           "--out-dir", str(out_dir), "--set", f"evaluation.plan={plan}",
           "--set", "vlm.policies=" + json.dumps(",".join(s.text for s in specs))]
    if bag is not None and not bag.exists():
        return cmd + ["--record", "--bag", str(bag)]
    return cmd + ["--set", "cell.stream=false"]


def _graphs(specs, shares, parts: list[Path], seed: int, bags: Path | None, tick) -> None:
    running = {}
    for share, part, domain in zip(shares, parts, worker_domains(len(parts))):
        part.mkdir(parents=True, exist_ok=True)
        bag = None if bags is None else Path(bags) / part.name
        write_plan(part / "plan.json", specs, share, seed, frames=bag is not None)
        env = {**os.environ, "ROS_DOMAIN_ID": str(domain),
               "ROS_AUTOMATIC_DISCOVERY_RANGE": os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") or "LOCALHOST"}
        cmd = graph_command(specs, part / "plan.json", seed, part, bag)
        with (part / "log.txt").open("a") as f:
            running[subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)] = part
    failed = []
    try:
        while running:
            tick()
            time.sleep(0.5)
            for proc in [p for p in running if p.poll() is not None]:
                part = running.pop(proc)
                if proc.returncode != 0:
                    failed.append(f"{part.name}: exit status {proc.returncode}, log {part / 'log.txt'}")
    finally:
        for proc in running:  # interrupted: the graphs stop too (each resumes from its part next time)
            proc.terminate()
        for proc in running:
            proc.wait(timeout=60)
    if failed:
        raise RuntimeError("evaluation graphs failed:\n" + "\n".join(failed))


def local_graph() -> dict[str, str]:
    """Keep a ROS 2 graph started here on this machine and to itself, unless the environment already
    says otherwise: ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and a ``ROS_DOMAIN_ID`` of its own
    (from the process id, 1..100). Returns what it set."""
    wanted = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_DOMAIN_ID": str(1 + os.getpid() % 100)}
    chosen = {k: v for k, v in wanted.items() if not os.environ.get(k)}
    os.environ.update(chosen)
    return chosen
