"""The evaluation node: runs (task, seed) episodes over the graph and reports them.

Per episode, each step with its own timeout: ``cell/reset`` -> ``cell/episode`` (the scene is built),
``vlm/instruction`` -> ``vlm/answer`` (the policy answered from a frame of that scene), the answer
through the codec and the task's plan (:func:`physgen.evaluation.episode.decide`) ->
``executor/command`` -> ``executor/result`` (the arm moved), ``cell/judge`` -> ``cell/outcome`` (the
physics decided). The record is :func:`physgen.evaluation.episode.assemble`'d as in-process, so for
a deterministic policy both runs give the same records. A step that times out ends that episode as
failed with reason ``timeout_<step>``; the run goes on.

Each record is appended to ``out_dir/episodes.jsonl`` as it completes and published on
``evaluation/episode``; at the end the report is written with the in-process report code
(:func:`physgen.evaluation.report.write_report`) and an ``evaluation/summary`` record is published.
With ``exit_when_done`` the node then shuts its context down and the process exits with
``exit_code`` (0, or 1 if the run could not start). With ``wait_for_recorder`` the run starts only
once the recorder reports (``recorder/status``) that it records every topic it was given, so a bag
holds every episode whole. Parameters: :class:`EvaluationConfig`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String

from physgen.cell.primitives import motion_dict, resolve
from physgen.config import in_range, one_of, require
from physgen.evaluation.episode import EpisodeRecord, Outcome, assemble, decide, failed
from physgen.evaluation.report import summarize, table, write_report
from physgen.evaluation.suite import episode_seeds
from physgen.tasks import load_task, task_names
from physgen.tasks.base import SPLITS
from physgen_nodes.conversions import Rejected, record_msg, record_of
from physgen_nodes.params import declare_config
from physgen_nodes.runner import run_node

REQUESTS = {"cell/reset": "reset", "vlm/instruction": "instruction", "executor/command": "command",
            "cell/judge": "judge"}  # topic: record schema
REPLIES = {"cell/episode": "episode", "vlm/answer": "answer", "executor/result": "result", "cell/outcome": "outcome"}


@dataclass(frozen=True)
class Timeouts:
    startup_s: float = 30.0  # for the other nodes to appear on the graph
    reset_s: float = 30.0
    answer_s: float = 120.0
    execution_s: float = 300.0
    outcome_s: float = 60.0

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            in_range(name, value, 0.1, 86400.0)


@dataclass(frozen=True)
class EvaluationConfig:
    tasks: tuple[str, ...] = field(default_factory=lambda: tuple(task_names()))
    episodes: int = 3
    seed: int = 0
    split: str = "train"
    policy: str = ""  # the label in the records; empty: the name the VLM node reports
    out_dir: str = "runs/ros_eval"
    exit_when_done: bool = True
    wait_for_recorder: bool = False  # start only once a recorder records every topic it was given
    timeouts: Timeouts = field(default_factory=Timeouts)

    def __post_init__(self) -> None:
        require(len(self.tasks) > 0, "tasks", self.tasks, "at least one task")
        for t in self.tasks:
            one_of("tasks", t, tuple(task_names()))
        in_range("episodes", self.episodes, 1, 1_000_000)
        one_of("split", self.split, SPLITS)
        require(bool(self.out_dir), "out_dir", self.out_dir, "a directory path")


class Mailbox:
    """Replies by (topic, request id); a waiter blocks until its reply or a timeout."""

    def __init__(self):
        self._cond = threading.Condition()
        self._box: dict[tuple[str, str], dict] = {}

    def put(self, topic: str, record: dict) -> None:
        with self._cond:
            self._box[(topic, str(record.get("request_id")))] = record
            self._cond.notify_all()

    def wait(self, topic: str, request_id: str, timeout: float) -> dict | None:
        key = (topic, request_id)
        with self._cond:
            self._cond.wait_for(lambda: key in self._box, timeout=timeout)
            return self._box.pop(key, None)


class StepTimeout(Exception):
    def __init__(self, step: str):
        self.step = step


class EvaluationNode(Node):
    def __init__(self, **kwargs):
        super().__init__("evaluation", **kwargs)
        self.config = declare_config(self, EvaluationConfig)
        self.out = Path(self.config.out_dir)
        self.records: list[dict] = []
        self.done = threading.Event()
        self.exit_code: int | None = None
        self.counts = {"episodes": 0, "failed_steps": 0, "rejected_replies": 0}
        self._run_id = uuid.uuid4().hex[:8]
        self.mailbox = Mailbox()
        group = ReentrantCallbackGroup()
        self.pubs = {t: self.create_publisher(String, t, 10)
                     for t in REQUESTS}
        self.subs = [self.create_subscription(String, t, lambda m, t=t: self._on_reply(t, m), 10,
                                              callback_group=group) for t in REPLIES]
        self.episode_pub = self.create_publisher(String, "evaluation/episode", 10)
        self.summary_pub = self.create_publisher(String, "evaluation/summary", 10)
        self.recorder: dict = {}
        self.create_subscription(String, "recorder/status", self._on_recorder, 10, callback_group=group)
        self._thread = threading.Thread(target=self._main, name="evaluation", daemon=True)
        self._thread.start()

    def _on_reply(self, topic: str, msg: String) -> None:
        try:
            self.mailbox.put(topic, record_of(msg, REPLIES[topic]))
        except Rejected as e:
            self.counts["rejected_replies"] += 1
            self.get_logger().warning(f"{topic}: reply rejected: {e}")

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

    def _graph_ready(self) -> bool:
        return (all(p.get_subscription_count() > 0 for p in self.pubs.values())
                and all(s.get_publisher_count() > 0 for s in self.subs))

    def _run(self) -> int:
        cfg = self.config
        end = time.monotonic() + cfg.timeouts.startup_s
        while not (self._graph_ready() and self._recording()):
            if time.monotonic() > end or not self.context.ok():
                missing = [t for t, p in self.pubs.items() if p.get_subscription_count() == 0]
                missing += [s.topic_name for s in self.subs if s.get_publisher_count() == 0]
                if not self._recording():
                    missing.append(f"recorder/status (recording every topic; now {self.recorder or 'silent'})")
                self.get_logger().error(f"the graph is incomplete after {cfg.timeouts.startup_s} s: "
                                        f"nobody on {missing}")
                return 1
            time.sleep(0.05)
        self.out.mkdir(parents=True, exist_ok=True)
        log = self.out / "episodes.jsonl"
        t0 = time.perf_counter()
        with log.open("w") as f:
            for name in cfg.tasks:
                task = load_task(name)
                for seed in episode_seeds(cfg.seed, cfg.episodes):
                    if not self.context.ok():
                        return 1
                    rec = self.episode(task, seed, cfg.split).to_dict()
                    self.records.append(rec)
                    f.write(json.dumps(rec) + "\n")
                    f.flush()
                    self.counts["episodes"] += 1
                    self.episode_pub.publish(record_msg("evaluation_episode", rec))
        meta = {"command": "ros evaluation node", "tasks": list(cfg.tasks), "splits": [cfg.split],
                "seed": cfg.seed, "episodes": cfg.episodes, "via": "ros",
                "physics": next((r["physics"] for r in self.records if r["physics"]), {}),
                "wall_time_s": round(time.perf_counter() - t0, 1)}
        report = write_report(self.out, self.records, meta)
        self.get_logger().info("\n" + table(summarize(self.records)))
        self.summary_pub.publish(record_msg("evaluation_summary", {"out_dir": str(self.out),
                                                                   "results": report["results"]}))
        if self.config.wait_for_recorder:  # let the summary reach the bag before the graph stops
            end = time.monotonic() + 5.0
            while time.monotonic() < end and self._recorded(self.summary_pub.topic_name) < 1:
                time.sleep(0.05)
        return 0

    def _recorded(self, topic: str) -> int:
        return int(self.recorder.get("topics", {}).get(topic, {}).get("written", 0))

    def _ask(self, topic: str, payload: dict, reply: str, step: str, timeout: float) -> dict:
        self.pubs[topic].publish(record_msg(REQUESTS[topic], payload))
        got = self.mailbox.wait(reply, payload["request_id"], timeout)
        if got is None:
            self.counts["failed_steps"] += 1
            self.get_logger().warning(f"{payload['request_id']}: no {reply} within {timeout} s")
            raise StepTimeout(step)
        return got

    def episode(self, task, seed: int, split: str) -> EpisodeRecord:
        """One episode over the graph; a step that times out ends it as failed."""
        t = self.config.timeouts
        inst = task.sample(seed, split)
        rid = f"{self._run_id}:{task.name}:{split}:{seed}"
        key = {"request_id": rid, "task": task.name, "seed": seed, "split": split}
        policy, latency, answer = self.config.policy, {}, {"raw": ""}
        try:
            ep = self._ask("cell/reset", key, "cell/episode", "reset", t.reset_s)
            t0 = time.monotonic()
            answer = self._ask("vlm/instruction", {**key, "prompt": inst.prompt,
                                                   "frame_after_ns": ep["frame_after_ns"]},
                               "vlm/answer", "answer", t.answer_s)
            latency = {"policy_s": time.monotonic() - t0, **answer.get("latency", {})}
            policy = policy or str(answer.get("policy", ""))
            parsed, plan = decide(task, inst, str(answer.get("raw", "")))
            motions: list[dict] = []
            if plan.commands:
                result = self._ask("executor/command", {
                    "request_id": rid, "joints_after_ns": ep["frame_after_ns"],
                    "motions": [motion_dict(m) for m in resolve(list(plan.commands), inst.scene)]},
                    "executor/result", "execution", t.execution_s)
                motions = list(result.get("motions", []))
            out = self._ask("cell/judge", {**key, "raw": parsed.text}, "cell/outcome", "outcome", t.outcome_s)
            if not out.get("ok"):
                return failed(task, inst, f"outcome_{out.get('reason') or 'rejected'}", policy, parsed.text, latency)
            outcome = Outcome(**{k: out[k] for k in Outcome.__dataclass_fields__})
            return assemble(task, inst, parsed, plan, motions, outcome, policy, latency)
        except StepTimeout as e:
            return failed(task, inst, f"timeout_{e.step}", policy, str(answer.get("raw", "")), latency)


def main(args: list[str] | None = None) -> None:
    run_node(EvaluationNode, args)


if __name__ == "__main__":
    main()
