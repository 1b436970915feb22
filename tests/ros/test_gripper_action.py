"""A gripper driven by a real control_msgs/GripperCommand action: the executor picks and places on
the cell node as stand-in hardware, the fingers driven by a stand-in GripperActionController of a
Robotiq-like gripper (a knuckle joint, 0 rad open, 0.8 rad closed, reported apart from the arm's
joint states). Needs control_msgs, which has no pip wheel: skipped where it is not installed (it runs
on a ROS 2 install)."""

from __future__ import annotations

import time

import pytest
from ros_helpers import executor, spin_until

pytest.importorskip("control_msgs.action", reason="control_msgs comes with a ROS 2 install, not with pip")

KNUCKLE = "robotiq_85_left_knuckle_joint"
CLOSED = 0.8  # rad
OPEN_M = 0.04  # m per finger, the Panda's


def stand_in_gripper(ctx):
    """Stand-in hardware (test only): a GripperActionController on the knuckle joint, moving the
    cell's fingers through their trajectory controller and reporting the knuckle on joint_states.
    Its goal callback waits for joint states, so it spins on an executor of its own, multi-threaded,
    as a controller runs apart from physgen's nodes."""
    from control_msgs.action import GripperCommand
    from rclpy.action import ActionServer
    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from physgen_nodes.executor_node import Duration

    node = Node("robotiq_gripper_controller", namespace="sim", context=ctx)
    node.goals, node.ended, node.fingers = [], [], []  # commanded knuckle positions; how each goal ended; (t, m)
    group = ReentrantCallbackGroup()
    trajectories = node.create_publisher(JointTrajectory, "gripper_controller/joint_trajectory", 10)
    states = node.create_publisher(JointState, "joint_states", 10)

    def on_joints(msg: JointState) -> None:
        q = dict(zip(msg.name, msg.position))
        if "panda_finger_joint1" in q:
            f = q["panda_finger_joint1"]
            node.fingers.append((time.monotonic(), f))
            states.publish(JointState(header=msg.header, name=[KNUCKLE], position=[CLOSED * (1 - f / OPEN_M)]))

    def execute(handle):
        position = handle.request.command.position
        node.goals.append(position)
        goal = OPEN_M * (1 - position / CLOSED)
        trajectories.publish(JointTrajectory(joint_names=["panda_finger_joint1", "panda_finger_joint2"], points=[
            JointTrajectoryPoint(positions=[goal, goal], time_from_start=Duration(sec=0, nanosec=300_000_000))]))
        start, end = time.monotonic(), time.monotonic() + 30
        while time.monotonic() < end:  # stopped: two readings 0.1 mm apart or closer, after the motion's time
            recent = [f for t, f in node.fingers if t > start + 0.4]
            if len(recent) >= 2 and abs(recent[-1] - recent[-2]) < 1e-4:
                break
            time.sleep(0.02)
        f = node.fingers[-1][1]
        result = GripperCommand.Result(position=CLOSED * (1 - f / OPEN_M), reached_goal=abs(f - goal) < 0.002)
        result.stalled = not result.reached_goal
        (handle.succeed if result.reached_goal else handle.abort)()  # no allow_stalling: a stall aborts
        node.ended.append("succeeded" if result.reached_goal else "aborted")
        return result

    node.create_subscription(JointState, "joint_states", on_joints, 50, callback_group=group)
    node.server = ActionServer(node, GripperCommand, "~/gripper_cmd", execute_callback=execute,
                               callback_group=group)
    return node


def test_an_action_driven_gripper_picks_and_places(ros_context):
    import threading

    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from std_msgs.msg import String

    from physgen.evaluation.episode import decide
    from physgen.motion.commands import motion_dict, resolve
    from physgen.tasks import load_task
    from physgen_nodes.cell_node import CellNode
    from physgen_nodes.conversions import record_msg, record_of
    from physgen_nodes.executor_node import ExecutorNode

    params = {"done_by": "joint_states", "motion_timeout_s": 120.0, "goal_tolerance": 0.02,
              "gripper.interface": "gripper_command", "gripper.action": "robotiq_gripper_controller/gripper_cmd",
              "gripper.joint": KNUCKLE, "gripper.open_position": 0.0, "gripper.closed_position": CLOSED}
    cell = CellNode(context=ros_context, namespace="sim",
                    parameter_overrides=[Parameter("realtime", value=True), Parameter("rate_hz", value=5.0)])
    gripper = stand_in_gripper(ros_context)
    ex_node = ExecutorNode(context=ros_context, namespace="sim",
                           parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    probe = Node("probe", context=ros_context)
    results, episodes = [], []
    probe.create_subscription(String, "/sim/executor/result", lambda m: results.append(record_of(m, "result")), 10)
    probe.create_subscription(String, "/sim/cell/episode", lambda m: episodes.append(record_of(m, "episode")), 10)
    command = probe.create_publisher(String, "/sim/executor/command", 10)
    reset = probe.create_publisher(String, "/sim/cell/reset", 10)
    ex = executor(ros_context, cell, ex_node, probe)
    gripper_ex = MultiThreadedExecutor(context=ros_context)
    gripper_ex.add_node(gripper)
    threading.Thread(target=gripper_ex.spin, daemon=True).start()
    try:
        assert spin_until(ex, lambda: command.get_subscription_count() > 0 and reset.get_subscription_count() > 0)
        task = load_task("shift")
        inst = task.sample(0, "train")
        reset.publish(record_msg("reset", {"request_id": "r", "task": "shift", "seed": 0, "split": "train"}))
        assert spin_until(ex, lambda: bool(episodes))
        _, plan = decide(task, inst, "0")  # move the top block 0 cm: pick it and place it back
        motions = [motion_dict(m) for m in resolve(list(plan.commands), inst.scene)]
        command.publish(record_msg("command", {"request_id": "c", "motions": motions}))
        assert spin_until(ex, lambda: bool(results), timeout=600)
        result = results[0]
        assert result["ok"] is True, (result["reason"], result["motions"], gripper.goals, gripper.ended)
        pick = next(m for m in result["motions"] if m["primitive"] == "pick")
        assert pick["ok"] and 0.01 < pick["finger_gap"] < 2 * OPEN_M  # read back from the knuckle: on the block
        # open, close (it stalls on the block: aborted, and still a grasp), open to release
        assert gripper.goals == [pytest.approx(0.0), pytest.approx(CLOSED), pytest.approx(0.0)]
        assert len(gripper.ended) == 3 and gripper.ended[1] == "aborted"
        assert ex_node.hardware.sent > 5  # the arm's trajectories went to its controller, the gripper's as goals
    finally:
        ex.shutdown()
        gripper_ex.shutdown()
        for n in (cell, gripper, ex_node, probe):
            n.destroy_node()
