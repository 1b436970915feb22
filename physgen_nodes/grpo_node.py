"""The GRPO node: one GRPO job (:func:`physgen.training.grpo.train_grpo`) from its parameters, with
progress, checkpoints and a clean stop on shutdown (:mod:`physgen_nodes.trainer`).

``environment`` chooses where completions are executed: ``pool`` (reward worker processes, each with
its own simulated cell: fast) or ``graph`` (the cell and executor nodes on the ROS graph, one
completion after another on each cell, every cell in ``cells`` at once: the slower path that reaches a
real arm, and cells on other machines in the same ROS domain).
Parameters: the fields of :class:`physgen.training.grpo_config.GRPORunConfig` (``task``, ``model``
and ``out`` are required) and :class:`GRPONodeConfig`.
"""

from __future__ import annotations

import itertools
import queue
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from physgen.config import in_range, one_of, require
from physgen.tasks import load_task
from physgen.training.grpo_config import GRPORunConfig
from physgen.training.rewards import RewardError, RewardJob, RewardResult
from physgen_nodes.episode_client import EpisodeClient, StepFailed, Timeouts
from physgen_nodes.params import declare_config
from physgen_nodes.runner import run_node
from physgen_nodes.trainer import TrainerNode

REQUIRED = ("task", "model", "out")


@dataclass(frozen=True)
class GRPONodeConfig:
    environment: str = "pool"  # pool: reward worker processes; graph: the cell and executor nodes
    cells: tuple[str, ...] = ("",)  # graph: namespaces of cell + executor pairs ("": the node's own), used in parallel
    tries: int = 3  # graph: tries per completion before the job fails (a step that timed out)
    exit_when_done: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)

    def __post_init__(self) -> None:
        one_of("environment", self.environment, ("pool", "graph"))
        require(len(self.cells) > 0 and len(set(self.cells)) == len(self.cells), "cells", list(self.cells),
                "one or more distinct namespaces")
        in_range("tries", self.tries, 1, 100)


class GraphRewards:
    """Scores completions on the live graph, on every cell (and its executor) at once: reset the cell
    to the prompt's scene, execute the answer with the executor, let the cell judge (and, for
    multi-step GRPO, take the camera frame of the settled scene). A completion whose episode times
    out is tried again (``tries`` in all); each is counted exactly once."""

    def __init__(self, clients: list[EpisodeClient], tries: int):
        self.clients, self.tries = clients, tries
        self._run = uuid.uuid4().hex[:8]
        self._ids = itertools.count(1)

    def score(self, jobs: list[RewardJob]) -> list[RewardResult]:
        """Results in the order of ``jobs``; identical jobs are executed once (episodes are deterministic)."""
        unique = list(dict.fromkeys(jobs))
        free: queue.Queue = queue.Queue()
        for i in range(len(self.clients)):
            free.put(i)

        def run(job: RewardJob) -> RewardResult:
            i = free.get()
            try:
                return self._one(i, job)
            finally:
                free.put(i)

        with ThreadPoolExecutor(len(self.clients), thread_name_prefix="grpo-graph") as pool:
            results = dict(zip(unique, pool.map(run, unique)))
        return [results[j] for j in jobs]

    def _one(self, i: int, job: RewardJob) -> RewardResult:
        client = self.clients[i]
        task = load_task(job.task)
        inst = task.sample(job.seed, job.split)
        for attempt in range(self.tries):
            key = {"request_id": f"{self._run}:{next(self._ids)}", "task": job.task, "seed": job.seed,
                   "split": job.split}
            t0 = time.perf_counter()
            try:
                ep = client.reset(key)
                parsed, _, _, outcome, image = client.act(key, task, inst, job.text, ep["frame_after_ns"], job.frame)
            except StepFailed as e:
                client.node.get_logger().warning(f"{job.task} seed {job.seed}: {e} (try {attempt + 1})")
                continue
            return RewardResult(outcome.reward, outcome.success, parsed.reason, time.perf_counter() - t0, i, image)
        raise RewardError(f"no outcome for {job} on the graph after {self.tries} tries")


class GRPONode(TrainerNode):
    job = "grpo"

    def __init__(self, **kwargs):
        super().__init__("grpo", **kwargs)
        self.run_config = declare_config(self, GRPORunConfig, required=REQUIRED)
        self.node_config = declare_config(self, GRPONodeConfig)
        self.exit_when_done = self.node_config.exit_when_done
        self.episode_clients: list[EpisodeClient] = []
        if self.node_config.environment == "graph":
            frames = self.run_config.mode == "multi-step"
            self.episode_clients = [EpisodeClient(self, self.node_config.timeouts, with_vlm=False, namespace=ns,
                                                  frames=frames) for ns in self.node_config.cells]
        self.start()

    def train(self, callbacks: list) -> Path | None:
        from physgen.training.grpo import train_grpo

        scorer = None
        if self.episode_clients:
            missing = [t for c in self.episode_clients for t in c.wait_ready()]
            if missing:
                raise RewardError(f"environment graph: nobody on {missing} after "
                                  f"{self.node_config.timeouts.startup_s} s")
            scorer = GraphRewards(self.episode_clients, self.node_config.tries)
        return train_grpo(self.run_config, progress=False, callbacks=callbacks, scorer=scorer)


def main(args: list[str] | None = None) -> None:
    run_node(GRPONode, args)


if __name__ == "__main__":
    main()
