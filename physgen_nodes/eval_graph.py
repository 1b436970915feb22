"""Evaluation over the ROS 2 graph from Python: each policy and split through the evaluation graph
(cell, VLM, executor, evaluation and optionally recorder nodes, as ``physgen bringup evaluation``
runs them), one graph after another in this process, or ``workers`` graphs at once, each in its own
process and ROS domain."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from physgen.evaluation.run import EPISODES, EpisodeFile, PolicySpec, key
from physgen.evaluation.suite import scenes

PARTS = "parts"  # OUT/parts/<label>_<split>/: one graph process's own episodes.jsonl, report and log


def evaluate_over_ros(specs: list[PolicySpec], tasks: list[str], episodes: int, seed: int, splits: list[str],
                      out: Path, bags: Path | None = None, workers: int = 1) -> list[dict]:
    """The records of every (policy, task, seed) of every split, in the in-process order (split,
    task, seed, policy), all in ``OUT/episodes.jsonl`` under each policy's label; a stopped run
    resumes there. With ``bags``, each policy's episodes of a split are also recorded to
    ``BAGS/<label>_<split>`` (a bag that already exists is kept and that graph runs without a
    recorder). With ``workers`` > 1 the graphs run in that many processes at once, in ROS domains
    next to this one's; each writes ``OUT/parts/<label>_<split>/`` and its records are merged in."""
    out = Path(out)
    jobs = [(spec, split) for split in splits for spec in specs]
    if workers <= 1:
        for spec, split in jobs:
            _run_in_process(spec, tasks, episodes, seed, split, out, _bag(bags, spec, split))
    else:
        _run_in_processes(jobs, tasks, episodes, seed, out, bags, workers)
    done = {key(r): r for r in EpisodeFile(out / EPISODES).records}
    return [done[(s.label, t, split, n)] for split in splits for t, n in scenes(tasks, episodes, seed)
            for s in specs]


def _bag(bags: Path | None, spec: PolicySpec, split: str) -> str | None:
    bag = None if bags is None else Path(bags) / f"{spec.label}_{split}"
    return None if bag is None or bag.exists() else str(bag)


def _run_in_process(spec: PolicySpec, tasks, episodes: int, seed: int, split: str, out: Path, bag) -> None:
    from physgen_nodes.bringup import run

    arguments = {"policy": spec.kind, "model": spec.model, "tasks": list(tasks), "episodes": episodes, "seed": seed,
                 "split": split, "out_dir": str(out), "bag": bag}
    status = run("evaluation", None, [f"evaluation.policy={spec.label}"], arguments, record=bool(bag) or None)
    if status != 0:
        raise SystemExit(status)


def graph_command(spec: PolicySpec, tasks, episodes: int, seed: int, split: str, out_dir: Path, bag) -> list[str]:
    """``physgen bringup evaluation`` for one policy and split, as a command line."""
    cmd = [sys.executable, "-m", "physgen.cli", "bringup", "evaluation", "--policy", spec.kind,
           "--tasks", ",".join(tasks), "--episodes", str(episodes), "--seed", str(seed), "--split", split,
           "--out-dir", str(out_dir), "--set", f"evaluation.policy={spec.label}"]
    if spec.model:
        cmd += ["--model", spec.model]
    return cmd + (["--record", "--bag", bag] if bag else [])


def worker_domains(workers: int, base: int | None = None) -> list[int]:
    """``workers`` ROS domain ids in 1..100, none equal to ``base`` (default: this process's)."""
    base = int(os.environ.get("ROS_DOMAIN_ID") or 0) if base is None else base
    return [(base + k) % 100 + 1 for k in range(workers)]


def _run_in_processes(jobs, tasks, episodes: int, seed: int, out: Path, bags, workers: int) -> None:
    free = worker_domains(workers)
    queue, running, failed = list(jobs), {}, []
    while queue or running:
        while queue and free:
            spec, split = queue.pop(0)
            part = out / PARTS / f"{spec.label}_{split}"
            part.mkdir(parents=True, exist_ok=True)
            domain = free.pop(0)
            env = {**os.environ, "ROS_DOMAIN_ID": str(domain), "ROS_AUTOMATIC_DISCOVERY_RANGE":
                   os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") or "LOCALHOST"}
            with (part / "log.txt").open("a") as f:
                cmd = graph_command(spec, tasks, episodes, seed, split, part, _bag(bags, spec, split))
                proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
            running[proc] = (spec, split, part, domain)
        time.sleep(0.2)
        for proc in [p for p in running if p.poll() is not None]:
            spec, split, part, domain = running.pop(proc)
            free.append(domain)
            if proc.returncode != 0:
                failed.append((spec.label, split, proc.returncode, part / "log.txt"))
            print(f"{spec.label} {split}: {'done' if proc.returncode == 0 else 'failed'}", file=sys.stderr)
    log = EpisodeFile(out / EPISODES)
    have = {key(r) for r in log.records}
    for spec, split in jobs:  # in job order, whatever order they ended in; each record once
        for r in EpisodeFile(out / PARTS / f"{spec.label}_{split}" / EPISODES).records:
            if key(r) not in have:
                log.append(r)
                have.add(key(r))
    if failed:
        lines = [f"{label} {split}: exit status {code}, log {path}" for label, split, code, path in failed]
        raise RuntimeError("evaluation graphs failed:\n" + "\n".join(lines))
