"""The GRPO node: one GRPO job (:func:`physgen.training.grpo.train_grpo`) from its parameters, with
progress, checkpoints and a clean stop on shutdown (:mod:`physgen_nodes.trainer`).

``environment`` chooses where completions are executed: ``pool`` (reward worker processes, each with
its own simulated cell: fast) or ``graph`` (the cell and executor nodes on the ROS graph, one
completion after another: the slower path that reaches a real arm and cells on other machines).
Parameters: the fields of :class:`physgen.training.grpo_config.GRPORunConfig` (``task``, ``model``
and ``out`` are required) and :class:`GRPONodeConfig`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rclpy.callback_groups import ReentrantCallbackGroup

from physgen.config import in_range, one_of
from physgen.tasks import load_task
from physgen.training.grpo_config import GRPORunConfig
from physgen.training.rewards import RewardError, RewardJob, RewardResult
from physgen_nodes.episode_client import EpisodeClient, StepTimeout, Timeouts
from physgen_nodes.params import declare_config
from physgen_nodes.runner import run_node
from physgen_nodes.trainer import TrainerNode

REQUIRED = ("task", "model", "out")


@dataclass(frozen=True)
class GRPONodeConfig:
    environment: str = "pool"  # pool: reward worker processes; graph: the cell and executor nodes
    attempts: int = 3  # graph: tries per completion before the job fails (a step that timed out)
    exit_when_done: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)

    def __post_init__(self) -> None:
        one_of("environment", self.environment, ("pool", "graph"))
        in_range("attempts", self.attempts, 1, 100)


class GraphRewards:
    """Scores completions on the live graph: reset the cell to the prompt's scene, execute the
    answer with the executor, let the cell judge. A completion whose episode times out is tried
    again (``attempts`` in all); it is never counted twice."""

    def __init__(self, client: EpisodeClient, attempts: int):
        self.client, self.attempts = client, attempts
        self._run = uuid.uuid4().hex[:8]
        self._n = 0

    def score(self, jobs: list[RewardJob]) -> list[RewardResult]:
        return [self._one(job) for job in jobs]

    def _one(self, job: RewardJob) -> RewardResult:
        task = load_task(job.task)
        inst = task.sample(job.seed, job.split)
        for attempt in range(self.attempts):
            self._n += 1
            key = {"request_id": f"{self._run}:{self._n}", "task": job.task, "seed": job.seed, "split": job.split}
            t0 = time.perf_counter()
            try:
                ep = self.client.reset(key)
                parsed, _, _, outcome = self.client.act(key, task, inst, job.text, ep["frame_after_ns"])
            except StepTimeout as e:
                self.client.node.get_logger().warning(f"{job.task} seed {job.seed}: {e} (try {attempt + 1})")
                continue
            if outcome is not None:
                return RewardResult(outcome.reward, outcome.success, parsed.reason, time.perf_counter() - t0, 0)
        raise RewardError(f"no outcome for {job} on the graph after {self.attempts} tries")


class GRPONode(TrainerNode):
    job = "grpo"

    def __init__(self, **kwargs):
        super().__init__("grpo", **kwargs)
        self.run_config = declare_config(self, GRPORunConfig, required=REQUIRED)
        self.node_config = declare_config(self, GRPONodeConfig)
        self.exit_when_done = self.node_config.exit_when_done
        self.client = None
        if self.node_config.environment == "graph":
            self.client = EpisodeClient(self, self.node_config.timeouts, ReentrantCallbackGroup(), with_vlm=False)
        self.start()

    def train(self, callbacks: list) -> Path | None:
        from physgen.training.grpo import train_grpo

        scorer = None
        if self.client is not None:
            missing = self.client.wait_ready()
            if missing:
                raise RewardError(f"environment graph: nobody on {missing} after "
                                  f"{self.node_config.timeouts.startup_s} s")
            scorer = GraphRewards(self.client, self.node_config.attempts)
        return train_grpo(self.run_config, progress=False, callbacks=callbacks, scorer=scorer)


def main(args: list[str] | None = None) -> None:
    run_node(GRPONode, args)


if __name__ == "__main__":
    main()
