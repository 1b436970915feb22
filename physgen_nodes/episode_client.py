"""Episodes over the graph, from the requesting side: the evaluation node and the GRPO node's graph
environment both drive the cell, (the VLM,) the executor and the judge through this client.

Requests and replies are records (:mod:`physgen_nodes.conversions`) matched by ``request_id``; each
step has a timeout and raises :class:`StepFailed` naming the step when its reply does not come
(``timeout_<step>``), or when the cell refuses to judge (``outcome_<reason>``: e.g. a cell that was
restarted mid-episode no longer holds the scene, ``outcome_not_the_current_scene``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from std_msgs.msg import String

from physgen.config import in_range
from physgen.evaluation.episode import Outcome, decide
from physgen.motion.commands import motion_dict, resolve
from physgen_nodes.conversions import Rejected, image_array, record_msg, record_of
from physgen_nodes.latest_frame import LatestFrame

REQUESTS = {"cell/reset": "reset", "vlm/instruction": "instruction", "executor/command": "command",
            "cell/judge": "judge"}  # topic: record schema
REPLIES = {"cell/episode": "episode", "vlm/answer": "answer", "executor/result": "result", "cell/outcome": "outcome"}
VLM_TOPICS = ("vlm/instruction", "vlm/answer")
UNASKED = ("no_frame", "unknown_policy")  # a VLM node's answer reasons when no policy saw the scene


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


class StepFailed(Exception):
    """An episode step that failed: ``error`` is the episode's error code."""

    def __init__(self, step: str, refused: str = ""):
        super().__init__(f"the {step} step was refused: {refused}" if refused
                         else f"no reply to the {step} step in time")
        self.step = step
        self.error = f"{step}_{refused}" if refused else f"timeout_{step}"


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


class EpisodeClient:
    """Publishers and subscriptions on ``node`` for the episode steps (without the VLM's when
    ``with_vlm`` is false: the caller brings the answer text). ``namespace`` prefixes every topic
    (one cell and executor pair per namespace); with ``frames`` the client also keeps the latest
    camera frame (:meth:`frame_after`)."""

    def __init__(self, node, timeouts: Timeouts, with_vlm: bool = True, namespace: str = "",
                 frames: bool = False):
        self.node, self.timeouts = node, timeouts
        self.failed_steps = self.rejected_replies = 0
        self.mailbox = Mailbox()
        ns = namespace.strip("/")
        self.prefix = f"/{ns}/" if ns else ""
        keep = [t for t in (*REQUESTS, *REPLIES) if with_vlm or t not in VLM_TOPICS]
        self.pubs = {t: node.create_publisher(String, self.prefix + t, 10) for t in REQUESTS if t in keep}
        self.subs = [node.create_subscription(String, self.prefix + t, lambda m, t=t: self._on_reply(t, m), 10)
                     for t in REPLIES if t in keep]
        self.frames = None
        if frames:
            from sensor_msgs.msg import Image

            from physgen_nodes.cell_node import IMAGE_QOS

            self.frames = LatestFrame()
            self.subs.append(node.create_subscription(Image, self.prefix + "camera/image_raw", self._on_image,
                                                      IMAGE_QOS))

    def _on_image(self, msg) -> None:
        from rclpy.time import Time

        try:
            self.frames.keep(image_array(msg), Time.from_msg(msg.header.stamp).nanoseconds)
        except Rejected as e:
            self.node.get_logger().warning(f"frame rejected: {e}", throttle_duration_sec=5.0)

    def frame_after(self, stamp_ns: int):
        """The first camera frame (RGB array) stamped at or after ``stamp_ns``; :class:`StepFailed`
        ("frame") when none comes within the outcome timeout."""
        got = self.frames.after(stamp_ns, self.timeouts.outcome_s)
        if got is None:
            self.failed_steps += 1
            raise StepFailed("frame")
        return got[0]

    def _on_reply(self, topic: str, msg: String) -> None:
        try:
            self.mailbox.put(topic, record_of(msg, REPLIES[topic]))
        except Rejected as e:
            self.rejected_replies += 1
            self.node.get_logger().warning(f"{topic}: reply rejected: {e}")

    def missing(self) -> list[str]:
        """Topics nobody serves yet (empty: the graph is complete)."""
        return ([self.prefix + t for t, p in self.pubs.items() if p.get_subscription_count() == 0]
                + [s.topic_name for s in self.subs if s.get_publisher_count() == 0])

    def ask(self, topic: str, payload: dict, reply: str, step: str, timeout: float) -> dict:
        self.pubs[topic].publish(record_msg(REQUESTS[topic], payload))
        got = self.mailbox.wait(reply, payload["request_id"], timeout)
        if got is None:
            self.failed_steps += 1
            self.node.get_logger().warning(f"{payload['request_id']}: no {reply} within {timeout} s")
            raise StepFailed(step)
        return got

    def reset(self, key: dict) -> dict:
        """Build the scene ``key`` ({request_id, task, seed, split}) in the cell; its episode record."""
        return self.ask("cell/reset", key, "cell/episode", "reset", self.timeouts.reset_s)

    def answer(self, key: dict, prompt: str, frame_after_ns: int, policy: str = "") -> dict:
        """The VLM node's answer from the first frame at or after ``frame_after_ns``, by the policy
        labelled ``policy`` (empty: the node's first). :class:`StepFailed` (``answer_<reason>``) when the
        node could not ask a policy: no frame of the scene came, or it serves no policy of that label."""
        request = {**key, "prompt": prompt, "frame_after_ns": frame_after_ns} | ({"policy": policy} if policy else {})
        got = self.ask("vlm/instruction", request, "vlm/answer", "answer", self.timeouts.answer_s)
        if got.get("reason") in UNASKED:
            self.failed_steps += 1
            raise StepFailed("answer", str(got["reason"]))
        return got

    def act(self, key: dict, task, inst, text: str, joints_after_ns: int, frame: bool = False):
        """The answer ``text`` through the codec and the plan, executed by the executor and judged by
        the cell: ``(parsed, plan, motions, outcome, image)``; ``image`` is the camera frame of the
        settled scene when ``frame`` is asked (else None). :class:`StepFailed` when the cell refuses."""
        parsed, plan = decide(task, inst, text)
        motions: list[dict] = []
        if plan.commands:
            result = self.ask("executor/command", {
                "request_id": key["request_id"], "joints_after_ns": joints_after_ns,
                "motions": [motion_dict(m) for m in resolve(list(plan.commands), inst.scene)]},
                "executor/result", "execution", self.timeouts.execution_s)
            motions = list(result.get("motions", []))
        out = self.ask("cell/judge", {**key, "raw": parsed.text}, "cell/outcome", "outcome", self.timeouts.outcome_s)
        if not out.get("ok"):
            self.failed_steps += 1
            self.node.get_logger().warning(f"{key['request_id']}: the cell refused to judge: {out.get('reason')}")
            raise StepFailed("outcome", str(out.get("reason") or "refused"))
        outcome = Outcome(**{k: out[k] for k in Outcome.__dataclass_fields__})
        image = self.frame_after(int(out["frame_after_ns"])) if frame else None
        return parsed, plan, motions, outcome, image

    def wait_ready(self, extra=lambda: True) -> list[str]:
        """Wait up to ``timeouts.startup_s`` for the graph (and ``extra()``); what is still missing."""
        end = time.monotonic() + self.timeouts.startup_s
        while (self.missing() or not extra()) and time.monotonic() < end and self.node.context.ok():
            time.sleep(0.05)
        return self.missing()
