"""The evaluation node: runs (task, seed) episodes over the graph and reports them.

Per episode, each step with its own timeout: ``cell/reset`` -> ``cell/episode`` (the scene is built),
``vlm/instruction`` -> ``vlm/answer`` (the policy answered from a frame of that scene), the answer
through the codec and the task's plan (:func:`physgen.evaluation.episode.decide`) ->
``executor/command`` -> ``executor/result`` (the arm moved), ``cell/judge`` -> ``cell/outcome`` (the
physics decided). The record is :func:`physgen.evaluation.episode.assemble`'d as in-process, so for
a deterministic policy both runs give the same records. A step that times out ends that episode as
failed with reason ``timeout_<step>``, a refused judgement with ``outcome_<the cell's reason>``; the
run goes on.

The episodes are ``tasks`` x ``episodes`` of ``split`` for one policy, or, with ``plan`` (a JSON file
``{"version": 1, "episodes": [[split, task, seed, label, frame], ...]}``, as ``physgen eval --via ros``
writes one per graph), exactly those, in order, each answered by the VLM node's policy ``label``
(its ``policies`` parameter): one graph serves many policies and splits. ``frame`` false (optional,
default true) asks the cell to build the scene for nobody to see (no frame is drawn): for a policy
that answers without the image.

Each record is appended to ``out_dir/episodes.jsonl`` as it completes (flushed and synced) and
published on ``evaluation/episode``; started again after a stop, the node skips the episodes the file
already holds for its policy (``policy``, else the name the VLM node reports), so none is run or
counted twice; at the end the report is written with the in-process report code
(:func:`physgen.evaluation.summary.write_report`) and an ``evaluation/summary`` record is published.
With ``exit_when_done`` the node then shuts its context down and the process exits with
``exit_code`` (0, 1 if the run could not start, 130 if it was stopped before its last episode).
With ``wait_for_recorder`` the run starts only once the recorder reports (``recorder/status``) that
it records every topic it was given, so a bag holds every episode whole. Parameters: :class:`EvaluationConfig`.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from rclpy.node import Node
from std_msgs.msg import String

from physgen.config import in_range, one_of, require
from physgen.evaluation.episode import assemble, failed
from physgen.evaluation.plan import scenes, task_plan
from physgen.evaluation.run import EPISODES, EpisodeFile, fingerprint, run_plan, without_names
from physgen.evaluation.summary import run_meta, summarize, table, write_report
from physgen.evaluation.workers import read_plan
from physgen.preflight import writable_dir
from physgen.tasks import load_task, task_names
from physgen.types import SPLITS
from physgen_nodes.conversions import Rejected, record_msg, record_of
from physgen_nodes.episode_client import EpisodeClient, StepFailed, Timeouts
from physgen_nodes.exits import INTERRUPTED
from physgen_nodes.params import declare_config
from physgen_nodes.runner import run_node, wait_acked


@dataclass(frozen=True)
class EvaluationConfig:
    tasks: tuple[str, ...] = field(default_factory=lambda: tuple(task_names()))  # NAME or NAME:EPISODES
    episodes: int = 3
    seed: int = 0
    split: str = "train"
    policy: str = ""  # the label in the records; empty: the name the VLM node reports
    plan: str = ""  # a JSON file of the episodes to run (see the module docstring); empty: tasks x episodes
    out_dir: str = "runs/ros_eval"
    exit_when_done: bool = True
    wait_for_recorder: bool = False  # start only once a recorder records every topic it was given
    timeouts: Timeouts = field(default_factory=Timeouts)

    def __post_init__(self) -> None:
        require(len(self.tasks) > 0, "tasks", self.tasks, "at least one task")
        in_range("episodes", self.episodes, 1, 1_000_000)
        task_plan(self.tasks, self.episodes)
        one_of("split", self.split, SPLITS)
        require(bool(self.out_dir), "out_dir", self.out_dir, "a directory path")


class EvaluationNode(Node):
    def __init__(self, **kwargs):
        super().__init__("evaluation", **kwargs)
        self.config = declare_config(self, EvaluationConfig)
        self.out = writable_dir("out_dir", self.config.out_dir)  # before any episode: a run that cannot log none
        cfg = self.config
        self.plan = read_plan(cfg.plan) if cfg.plan else [
            (cfg.split, name, seed, cfg.policy, True) for name, seed in scenes(cfg.tasks, cfg.episodes, cfg.seed)]
        self.records: list[dict] = []
        self.done = threading.Event()
        self.exit_code: int | None = None
        self.episodes = 0
        self.resumed = 0  # episodes found in out_dir/episodes.jsonl from an earlier, stopped run
        self._run_id = uuid.uuid4().hex[:8]
        self.client = EpisodeClient(self, self.config.timeouts)
        self.episode_pub = self.create_publisher(String, "evaluation/episode", 10)
        self.summary_pub = self.create_publisher(String, "evaluation/summary", 10)
        self.recorder: dict = {}
        self.create_subscription(String, "recorder/status", self._on_recorder, 10)
        self._thread = threading.Thread(target=self._main, name="evaluation", daemon=True)
        self._thread.start()

    def _on_recorder(self, msg: String) -> None:
        try:
            self.recorder = record_of(msg, "recorder_status")
        except Rejected as e:
            self.get_logger().warning(f"recorder/status rejected: {e}")

    def _recording(self) -> bool:
        r = self.recorder
        return not self.config.wait_for_recorder or (r.get("state") == "recording" and not r.get("waiting_for"))

    # --- the run ---
    def _main(self) -> None:
        try:
            self.exit_code = self._run()
        except Exception as e:  # noqa: BLE001 - reported, and the process exits non-zero
            self.get_logger().error(f"evaluation failed: {e!r}")
            self.exit_code = 1
        finally:
            self.done.set()
            if self.config.exit_when_done:
                self.context.try_shutdown()

    def _run(self) -> int:
        cfg = self.config
        missing = self.client.wait_ready(self._recording)
        if missing or not self._recording():
            if not self._recording():
                missing.append(f"recorder/status (recording every topic; now {self.recorder or 'silent'})")
            self.get_logger().error(f"the graph is incomplete after {cfg.timeouts.startup_s} s: nobody on {missing}")
            return 1
        t0 = time.perf_counter()
        log = EpisodeFile(self.out / EPISODES)  # a run started again resumes after its last episode

        def episode(split: str, name: str, seed: int, label: str, frame: bool) -> dict:
            return self.episode(load_task(name), seed, split, label, frame)

        def seen(rec: dict, status: str) -> None:
            if status == "ran":
                self.episode_pub.publish(record_msg("evaluation_episode", rec))
            self.resumed += status == "resumed"
            self.records.append(rec)
            self.episodes += 1

        if run_plan(self.plan, episode, log, seen, lambda: not self.context.ok()) is None:
            return INTERRUPTED  # Ctrl-C: stopped before the job was done
        meta = run_meta("ros evaluation node", self.records, time.perf_counter() - t0,
                        tasks=list(dict.fromkeys(e[1] for e in self.plan)),
                        splits=list(dict.fromkeys(e[0] for e in self.plan)), seed=cfg.seed, episodes=cfg.episodes,
                        via="ros", plan=cfg.plan)
        report = write_report(self.out, self.records, meta, episodes=False)
        self.get_logger().info("\n" + table(summarize(self.records)))
        self.summary_pub.publish(record_msg("evaluation_summary", {"out_dir": str(self.out),
                                                                   "results": report["results"]}))
        wait_acked(self.episode_pub, self.summary_pub)  # every subscriber has them before the node may exit
        if self.config.wait_for_recorder:  # and the recorder has written the summary into the bag
            end = time.monotonic() + 5.0
            while time.monotonic() < end and self._recorded(self.summary_pub.topic_name) < 1:
                time.sleep(0.05)
        return 0

    def _recorded(self, topic: str) -> int:
        return int(self.recorder.get("topics", {}).get(topic, {}).get("written", 0))

    def episode(self, task, seed: int, split: str, policy: str = "", frame: bool = True) -> dict:
        """One episode over the graph answered by the VLM node's policy ``policy`` (empty: its first),
        as a record with that policy's description (``model``) and the configuration ``fingerprint``;
        a step that times out ends it as failed. ``frame`` false: the scene is drawn for nobody."""
        inst = task.sample(seed, split)
        key = {"request_id": f"{self._run_id}:{policy}:{task.name}:{split}:{seed}", "task": task.name, "seed": seed,
               "split": split} | ({} if frame else {"frame": False})
        latency, raw, identity = {}, "", {"model": None, "fingerprint": None}
        try:
            t_reset = time.monotonic()
            ep = self.client.reset(key)
            t0 = time.monotonic()
            answer = self.client.answer(key, inst.prompt, ep["frame_after_ns"], policy)
            latency = {"reset_s": t0 - t_reset, "policy_s": time.monotonic() - t0, **answer.get("latency", {})}
            policy, raw = policy or str(answer.get("policy", "")), str(answer.get("raw", ""))
            if answer.get("model") is not None:
                identity = {"model": without_names(answer["model"]),
                            "fingerprint": fingerprint(answer["model"], ep.get("cell") or {}, ep.get("physics") or {})}
            t1 = time.monotonic()
            parsed, plan, motions, outcome, _ = self.client.act(key, task, inst, raw, ep["frame_after_ns"])
            latency["act_s"] = time.monotonic() - t1  # the plan executed by the arm, then settled and judged
        except StepFailed as e:
            return {**failed(task, inst, e.error, policy, raw, latency).to_dict(), **identity}
        return {**assemble(task, inst, parsed, plan, motions, outcome, policy, latency).to_dict(), **identity}


def main(args: list[str] | None = None) -> None:
    run_node(EvaluationNode, args)


if __name__ == "__main__":
    main()
