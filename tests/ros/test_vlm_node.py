"""The VLM node over real DDS: answers an instruction from the latest streamed frame through the
policy and the codec, with per-stage latency; malformed frames are rejected and counted."""

from __future__ import annotations

import pytest
from ros_helpers import executor, spin_until

from physgen.config import ConfigError
from physgen.tasks import load_task
from physgen.tasks.codec import render
from physgen.tasks.oracle import Oracles


@pytest.mark.parametrize("transport", ["raw", "compressed"])
def test_expert_answer_over_the_graph_matches_in_process(ros_context, transport):
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from std_msgs.msg import String

    from physgen_nodes.cell_node import CellNode
    from physgen_nodes.conversions import record_msg, record_of
    from physgen_nodes.vlm_node import VLMNode

    cell = CellNode(context=ros_context, parameter_overrides=[Parameter("rate_hz", value=20.0)])
    vlm = VLMNode(context=ros_context, parameter_overrides=[Parameter("image_transport", value=transport)])
    probe = Node("probe", context=ros_context)
    episodes, answers = [], []
    probe.create_subscription(String, "cell/episode", lambda m: episodes.append(record_of(m, "episode")), 10)
    probe.create_subscription(String, "vlm/answer", lambda m: answers.append(record_of(m, "answer")), 10)
    reset = probe.create_publisher(String, "cell/reset", 10)
    instruct = probe.create_publisher(String, "vlm/instruction", 10)
    ex = executor(ros_context, cell, vlm, probe)
    try:
        while not episodes:
            reset.publish(record_msg("reset", {"task": "shift", "seed": 4}))
            spin_until(ex, lambda: bool(episodes), timeout=1.0)
        frames = vlm.counts["frames"]
        assert spin_until(ex, lambda: vlm.counts["frames"] > frames + 1)
        ep = episodes[0]
        while not answers:
            instruct.publish(record_msg("instruction", {"task": ep["task"], "seed": ep["seed"], "split": ep["split"],
                                                        "prompt": ep["prompt"], "request_id": "r1"}))
            spin_until(ex, lambda: bool(answers), timeout=2.0)
        ans = answers[0]
        task = load_task("shift")
        oracles = Oracles()
        expected = render(oracles.get(task, task.sample(4, "train")).best, task.answer_format)
        oracles.close()
        assert ans["request_id"] == "r1" and ans["reason"] == "ok" and ans["raw"] == expected
        assert set(ans["latency"]) == {"queued_s", "frame_wait_s", "frame_age_s", "preprocess_s", "generate_s",
                                       "parse_s"}
        assert all(v >= 0 for v in ans["latency"].values())
        # the cell encodes JPEG only when the compressed transport has a reader
        assert (cell.compressed_pub.get_subscription_count() > 0) == (transport == "compressed")
    finally:
        ex.shutdown()
        for n in (cell, vlm, probe):
            n.destroy_node()


def test_malformed_frames_are_counted_and_no_frame_is_answered_with_a_reason(ros_context, monkeypatch):
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from physgen.policy.chance import ChancePolicy
    from physgen_nodes.cell_node import IMAGE_QOS
    from physgen_nodes.conversions import record_msg, record_of
    from physgen_nodes.vlm_node import VLMNode

    monkeypatch.setattr(ChancePolicy, "uses_image", True)  # a fake: chance standing in for a model that looks
    vlm = VLMNode(context=ros_context, parameter_overrides=[Parameter("policy", value="chance")])
    probe = Node("probe", context=ros_context)
    answers = []
    probe.create_subscription(String, "vlm/answer", lambda m: answers.append(record_of(m, "answer")), 10)
    images = probe.create_publisher(Image, "camera/image_raw", IMAGE_QOS)
    instruct = probe.create_publisher(String, "vlm/instruction", 10)
    ex = executor(ros_context, vlm, probe)
    try:
        while vlm.counts["rejected_frames"] < 3:
            images.publish(Image(height=4, width=4, encoding="mono16", step=8, data=bytes(32)))
            spin_until(ex, lambda: vlm.counts["rejected_frames"] >= 3, timeout=0.5)
        while not answers:
            instruct.publish(record_msg("instruction", {"task": "stability", "seed": 0, "prompt": "?"}))
            spin_until(ex, lambda: bool(answers), timeout=1.0)
        assert answers[0]["reason"] == "no_frame" and vlm.counts["frames"] == 0
    finally:
        ex.shutdown()
        vlm.destroy_node()
        probe.destroy_node()


def test_vlm_policy_without_a_model_fails_at_start(ros_context):
    from rclpy.parameter import Parameter

    from physgen_nodes.vlm_node import VLMNode

    with pytest.raises(ConfigError, match="model"):
        VLMNode(context=ros_context, parameter_overrides=[Parameter("policy", value="vlm")])
