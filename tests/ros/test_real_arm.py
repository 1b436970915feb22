"""The real-arm graph (`physgen bringup real_arm`, as launch/real_arm.launch.py starts it) against the
cell node as stand-in hardware (realtime: trajectories at wall-clock pace, joint states streaming)
that exposes only what a ros2_control setup does: joint states and a camera out, JointTrajectory in,
all under the namespace /sim, reached through remaps and topic parameters. Unarmed it only previews;
armed it moves the arm, each move judged done by the joint states."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ros_helpers import executor, interrupt, process_env, spin_until

REMAPS = ["camera/image_raw:=/sim/camera/image_raw", "camera/camera_info:=/sim/camera/camera_info",
          "joint_states:=/sim/joint_states"]
TOPICS = ["--set", "executor.arm_topic=/sim/arm_controller/joint_trajectory",
          "--set", "executor.gripper_topic=/sim/gripper_controller/joint_trajectory",
          # a loaded test machine slows the stand-in arm: wide margins here (the watchdogs and the
          # timeouts are tested on their own in test_safety_graph.py)
          "--set", "executor.motion_timeout_s=120.0", "--set", "executor.goal_tolerance=0.02",
          "--set", "executor.joint_states_timeout_s=5.0", "--set", "executor.camera_timeout_s=10.0"]


def _graph(domain: int, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "physgen.cli", "bringup", "real_arm", *TOPICS, *extra]
    for r in REMAPS:
        cmd += ["--remap", r]
    return subprocess.Popen(cmd, env=process_env(domain), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.parametrize("armed", [False, True])
def test_the_real_arm_graph_drives_the_stand_in_arm_only_when_armed(ros_context, armed):
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory

    from physgen.evaluation.episode import decide
    from physgen.motion.commands import motion_dict, resolve
    from physgen.tasks import load_task
    from physgen_nodes.cell_node import CellNode
    from physgen_nodes.conversions import record_msg, record_of

    cell = CellNode(context=ros_context, namespace="sim", parameter_overrides=[Parameter("realtime", value=True)])
    probe = Node("probe", context=ros_context)
    results, answers, previews, episodes = [], [], [], []
    probe.create_subscription(String, "executor/result", lambda m: results.append(record_of(m, "result")), 10)
    probe.create_subscription(String, "vlm/answer", lambda m: answers.append(record_of(m, "answer")), 10)
    probe.create_subscription(JointTrajectory, "/sim/arm_controller/joint_trajectory_preview", previews.append, 10)
    probe.create_subscription(String, "/sim/cell/episode", lambda m: episodes.append(record_of(m, "episode")), 10)
    command = probe.create_publisher(String, "executor/command", 10)
    instruction = probe.create_publisher(String, "vlm/instruction", 10)
    reset = probe.create_publisher(String, "/sim/cell/reset", 10)
    ex = executor(ros_context, cell, probe)
    proc = _graph(ros_context.get_domain_id(), *(["--armed"] if armed else []))
    try:
        assert spin_until(ex, lambda: command.get_subscription_count() > 0 and instruction.get_subscription_count() > 0
                          and reset.get_subscription_count() > 0, timeout=60), proc.stderr
        task = load_task("shift")
        inst = task.sample(0, "train")
        reset.publish(record_msg("reset", {"request_id": "r", "task": "shift", "seed": 0, "split": "train"}))
        assert spin_until(ex, lambda: bool(episodes))  # its reply read: the cell streams on
        # the VLM answers from the remapped camera
        instruction.publish(record_msg("instruction", {"request_id": "i", "task": "shift", "seed": 0,
                                                       "split": "train", "prompt": inst.prompt}))
        assert spin_until(ex, lambda: bool(answers), timeout=60)
        assert answers[0]["reason"] != "no_frame"
        # an answer's action for this scene (move the top block 0 cm: pick and place), as the evaluation node sends it
        _, plan = decide(task, inst, "0")
        motions = [motion_dict(m) for m in resolve(list(plan.commands), inst.scene)]
        command.publish(record_msg("command", {"request_id": "c", "motions": motions}))
        assert spin_until(ex, lambda: bool(results), timeout=600)
        result = results[0]
        if armed:
            assert cell.counts["trajectories"] > 3 and not previews, (result["reason"], result["motions"])
            assert result["ok"] is True, result["reason"]
            assert {m["primitive"] for m in result["motions"]} >= {"pick", "place", "home"}
        else:
            assert cell.counts["trajectories"] == 0 and len(previews) > 3
            assert result["reason"] == "dry_run"
    finally:
        err = interrupt(proc)
        ex.shutdown()
        cell.destroy_node()
        probe.destroy_node()
    assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
