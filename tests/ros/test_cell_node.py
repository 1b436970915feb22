"""The cell node over real DDS: streams exactly the in-process frame, resets on request, rejects
bad requests and bad parameters."""

from __future__ import annotations

import numpy as np
import pytest
from ros_helpers import executor, spin_until

from physgen.cell.cell import RobotCell
from physgen.config import ConfigError
from physgen.evaluation.episode import begin
from physgen.tasks import load_task


def test_streams_the_in_process_frame_after_a_reset(ros_context):
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image, JointState
    from std_msgs.msg import String

    from physgen_nodes.cell_node import IMAGE_QOS, CellNode
    from physgen_nodes.conversions import image_array, record_msg, record_of

    cell = CellNode(context=ros_context, parameter_overrides=[Parameter("rate_hz", value=20.0)])
    probe = Node("probe", context=ros_context)
    got = {"images": [], "info": [], "joints": [], "episodes": []}
    probe.create_subscription(Image, "camera/image_raw", lambda m: got["images"].append(m), IMAGE_QOS)
    probe.create_subscription(CameraInfo, "camera/camera_info", lambda m: got["info"].append(m), IMAGE_QOS)
    probe.create_subscription(JointState, "joint_states", lambda m: got["joints"].append(m), 10)
    probe.create_subscription(String, "cell/episode", lambda m: got["episodes"].append(m), 10)
    reset = probe.create_publisher(String, "cell/reset", 10)
    ex = executor(ros_context, cell, probe)
    try:
        assert spin_until(ex, lambda: len(got["images"]) >= 2 and got["info"] and got["joints"])
        while not got["episodes"]:
            reset.publish(record_msg("reset", {"task": "shift", "seed": 3, "split": "train"}))
            assert spin_until(ex, lambda: bool(got["episodes"]), timeout=1.0) or len(got["images"]) < 1000
        episode = record_of(got["episodes"][0], "episode")
        got["images"].clear()
        assert spin_until(ex, lambda: len(got["images"]) >= 2)
        with RobotCell() as local:
            inst, expected = begin(local, load_task("shift"), 3, "train")
        assert episode["prompt"] == inst.prompt and episode["task"] == "shift"
        assert np.array_equal(image_array(got["images"][-1]), expected)
        info = got["info"][-1]
        assert (info.width, info.height) == (224, 224) and info.k[0] > 0
        assert len(got["joints"][-1].name) == 9 and len(got["joints"][-1].position) == 9
    finally:
        ex.shutdown()
        cell.destroy_node()
        probe.destroy_node()


def test_bad_reset_requests_are_counted_and_the_node_keeps_streaming(ros_context):
    from rclpy.node import Node
    from std_msgs.msg import String

    from physgen_nodes.cell_node import CellNode
    from physgen_nodes.conversions import record_msg

    cell = CellNode(context=ros_context)
    probe = Node("probe", context=ros_context)
    reset = probe.create_publisher(String, "cell/reset", 10)
    ex = executor(ros_context, cell, probe)
    try:
        bad = [String(data="not json"), record_msg("reset", {"task": "nope", "seed": 1}),
               record_msg("reset", {"task": "shift"})]

        def rejected_all() -> bool:
            return cell.counts["rejected"] >= len(bad)

        while not rejected_all():
            for m in bad:
                reset.publish(m)
            if spin_until(ex, rejected_all, timeout=1.0):
                break
        frames = cell.counts["frames"]
        assert spin_until(ex, lambda: cell.counts["frames"] > frames + 2)
        assert cell.counts["resets"] == 0
    finally:
        ex.shutdown()
        cell.destroy_node()
        probe.destroy_node()


def test_a_bad_parameter_fails_at_start_with_its_name(ros_context):
    from rclpy.parameter import Parameter

    from physgen_nodes.cell_node import CellNode

    with pytest.raises(ConfigError, match=r"cell\.physics\.timestep=-1\.0: expected"):
        CellNode(context=ros_context, parameter_overrides=[Parameter("cell.physics.timestep", value=-1.0)])


def test_joint_trajectories_move_the_arm_and_bad_ones_are_rejected(ros_context):
    from builtin_interfaces.msg import Duration
    from rclpy.node import Node
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from physgen_nodes.cell_node import CellNode
    from physgen_nodes.conversions import record_of

    cell = CellNode(context=ros_context)
    probe = Node("probe", context=ros_context)
    motions = []
    probe.create_subscription(String, "cell/motion", lambda m: motions.append(record_of(m, "motion")), 10)
    arm = probe.create_publisher(JointTrajectory, "arm_controller/joint_trajectory", 10)
    ex = executor(ros_context, cell, probe)
    start = cell.cell.arm.joint_positions()[0]
    good = JointTrajectory(joint_names=["panda_joint1"], points=[
        JointTrajectoryPoint(positions=[start + 0.25], time_from_start=Duration(sec=1))])
    bad = JointTrajectory(joint_names=["panda_joint4"], points=[
        JointTrajectoryPoint(positions=[1.0], time_from_start=Duration(sec=1))])  # above the joint's limit 0
    try:
        for msg in (good, bad):
            n = len(motions)
            while len(motions) == n:
                arm.publish(msg)
                spin_until(ex, lambda n=n: len(motions) > n, timeout=2.0)
        assert motions[0]["ok"] and motions[0]["errors"]["panda_joint1"] < 1e-3
        assert motions[1] == {**motions[1], "ok": False, "reason": "out_of_limits"}
        assert abs(cell.cell.arm.joint_positions()[0] - (start + 0.25)) < 1e-3
    finally:
        ex.shutdown()
        cell.destroy_node()
        probe.destroy_node()
