"""The VLM node: keeps only the latest camera frame; on each instruction runs the policy on a worker
thread (a slow model never blocks callbacks) and publishes the answer.

Subscribes ``camera/image_raw`` (rgb8/bgr8), or with ``image_transport: compressed`` its
``camera/image_raw/compressed`` (JPEG, image_transport's convention: small bags, remote cameras), and
``vlm/instruction`` records ``{"task", "seed", "split", "prompt", "request_id", "frame_after_ns"}``
and optionally ``"policy"`` (the label of the policy that answers; default: the node's first)
(the answer uses the first frame stamped at or after ``frame_after_ns``, waiting up to ``frame_wait_s``
for it; 0 takes the latest frame). Publishes
``vlm/answer`` records: the raw text, the codec's parsed answer and reason code (``no_frame`` or
``unknown_policy`` when it could not ask a policy), latency per stage (frame age, preprocess,
generate, parse), ``policy`` (the label) and ``model``, the policy's description. Parameters:
``policy`` (expert, chance, vlm), ``model`` (for vlm), or ``policies`` (several at once, each
``LABEL=KIND[:MODEL]``, loaded once: an evaluation swaps policies per instruction, not by
restarting the node), ``seed``, ``frame_wait_s``, ``image_transport``. Malformed frames and
instructions are rejected and counted.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from physgen.config import ConfigError, in_range, one_of, require
from physgen.evaluation.run import PolicySpec
from physgen.policy.base import Observation
from physgen.policy.factory import POLICIES, make_policy
from physgen.tasks import load_task
from physgen.tasks.codec import parse
from physgen_nodes.cell_node import IMAGE_QOS
from physgen_nodes.conversions import Rejected, compressed_array, image_array, record_msg, record_of
from physgen_nodes.latest_frame import LatestFrame
from physgen_nodes.params import declare_config
from physgen_nodes.runner import publish_matched, run_node


@dataclass(frozen=True)
class VLMNodeConfig:
    policy: str = "expert"
    model: str = ""
    policies: str = ""  # LABEL=KIND[:MODEL],...: served at once, instead of policy and model
    seed: int = 0
    frame_wait_s: float = 10.0
    image_transport: str = "raw"  # raw: camera/image_raw; compressed: camera/image_raw/compressed (JPEG)

    def __post_init__(self) -> None:
        one_of("policy", self.policy, POLICIES)
        one_of("image_transport", self.image_transport, ("raw", "compressed"))
        in_range("frame_wait_s", self.frame_wait_s, 0.0, 3600.0)
        labels = [s.label for s in self.specs()]
        require(len(set(labels)) == len(labels), "policies", self.policies, "distinct labels")

    def specs(self) -> list[PolicySpec]:
        """``policies`` parsed (empty when the node serves ``policy`` alone)."""
        return [PolicySpec.parse(p.strip()) for p in self.policies.split(",") if p.strip()]


class VLMNode(Node):
    def __init__(self, **kwargs):
        super().__init__("vlm", **kwargs)
        self.config = declare_config(self, VLMNodeConfig)
        cfg = self.config
        self.policies = self._policies()  # label -> policy; the first answers unlabelled instructions
        self.descriptions = {k: p.describe() for k, p in self.policies.items()}  # sent with every answer
        self.counts = {"frames": 0, "rejected_frames": 0, "instructions": 0, "rejected_instructions": 0,
                       "answers": 0, "no_frame": 0, "unknown_policy": 0, "policy_errors": 0}
        self.frames = LatestFrame()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vlm-policy")
        # One transport only: frames from both would mix JPEG-damaged and exact pixels.
        if cfg.image_transport == "raw":
            self.create_subscription(Image, "camera/image_raw", self._on_image, IMAGE_QOS)
        else:
            self.create_subscription(CompressedImage, "camera/image_raw/compressed", self._on_compressed, IMAGE_QOS)
        self.create_subscription(String, "vlm/instruction", self._on_instruction, 10)
        self.answer_pub = self.create_publisher(String, "vlm/answer", 10)

    def _policies(self) -> dict:
        specs = self.config.specs()
        if not specs:
            policy = make_policy(self.config.policy, self.config.seed, self.config.model)
            return {policy.name: policy}
        return {s.label: s.make(self.config.seed) for s in specs}

    def _keep(self, convert, msg) -> None:
        try:
            rgb = convert(msg)
        except Rejected as e:
            self.counts["rejected_frames"] += 1
            self.get_logger().warning(f"frame rejected ({self.counts['rejected_frames']} so far): {e}",
                                      throttle_duration_sec=5.0)
            return
        self.frames.keep(rgb, Time.from_msg(msg.header.stamp).nanoseconds)
        self.counts["frames"] += 1

    def _on_image(self, msg: Image) -> None:
        self._keep(image_array, msg)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._keep(compressed_array, msg)

    def _on_instruction(self, msg: String) -> None:
        try:
            req = record_of(msg, "instruction")
            task = load_task(str(req["task"]))
            seed, split, prompt = int(req["seed"]), str(req.get("split", "train")), str(req["prompt"])
            after = int(req.get("frame_after_ns") or 0)
            label = str(req.get("policy") or next(iter(self.policies)))
        except (Rejected, KeyError, ValueError, TypeError, ConfigError) as e:
            self.counts["rejected_instructions"] += 1
            self.get_logger().warning(f"instruction rejected: {e}")
            return
        self.counts["instructions"] += 1
        self._worker.submit(self._answer, task, seed, split, prompt, req.get("request_id"), after, label,
                            time.monotonic())

    def _answer(self, task, seed: int, split: str, prompt: str, request_id, after_ns: int, label: str,
                received: float) -> None:
        t_start = time.monotonic()
        policy = self.policies.get(label)
        base = {"request_id": request_id, "task": task.name, "seed": seed, "split": split,
                "policy": label, "model": self.descriptions.get(label)}
        frame = None
        if policy is not None and policy.uses_image:
            frame = self.frames.after(after_ns, self.config.frame_wait_s)
        if policy is None or (policy.uses_image and frame is None):
            missing = "no_frame" if policy is not None else "unknown_policy"
            self.counts[missing] += 1
            publish_matched(self.answer_pub, record_msg("answer", {**base, "raw": "", "answer": None,
                                                                   "reason": missing, "latency": {}}))
            return
        t0 = time.monotonic()
        rgb, frame_received = (frame[0], frame[1]) if frame is not None else (None, t0)  # no frame: none waited for
        inst = task.sample(seed, split) if policy.privileged else None
        obs = Observation(rgb, prompt, task.name, seed, task.answer_format, inst)
        t1 = time.monotonic()
        try:
            raw = policy.act(obs)
        except Exception as e:  # noqa: BLE001 - a failing policy is reported, the node keeps serving
            self.counts["policy_errors"] += 1
            self.get_logger().error(f"policy failed: {e}")
            raw = ""
        t2 = time.monotonic()
        parsed = parse(raw, task.answer_format)
        t3 = time.monotonic()
        latency = {"queued_s": t_start - received, "frame_wait_s": t0 - t_start, "frame_age_s": t0 - frame_received,
                   "preprocess_s": t1 - t0, "generate_s": t2 - t1, "parse_s": t3 - t2}
        publish_matched(self.answer_pub, record_msg("answer", {**base, **parsed.to_dict(), "latency": latency}))
        self.counts["answers"] += 1

    def destroy_node(self) -> None:
        if hasattr(self, "_worker"):  # absent when a bad parameter stopped __init__
            self._worker.shutdown(wait=True, cancel_futures=True)
        for policy in getattr(self, "policies", {}).values():
            policy.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(VLMNode, args)


if __name__ == "__main__":
    main()
