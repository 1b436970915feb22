"""The executor node over real DDS: a bad command is answered with a reason, never a crash; with no
arm on the graph a command fails with no_joint_states instead of hanging."""

from __future__ import annotations

from ros_helpers import executor, spin_until


def test_bad_commands_and_a_missing_arm_are_reported(ros_context):
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from std_msgs.msg import String

    from physgen_nodes.conversions import record_msg, record_of
    from physgen_nodes.executor_node import ExecutorNode

    node = ExecutorNode(context=ros_context, parameter_overrides=[Parameter("motion_timeout_s", value=0.5)])
    probe = Node("probe", context=ros_context)
    results = []
    probe.create_subscription(String, "executor/result", lambda m: results.append(record_of(m, "result")), 10)
    command = probe.create_publisher(String, "executor/command", 10)
    ex = executor(ros_context, node, probe)
    try:
        assert spin_until(ex, lambda: command.get_subscription_count() > 0)
        command.publish(record_msg("command", {"request_id": "a", "motions": [{"type": "fly"}]}))
        command.publish(String(data="not json"))
        command.publish(record_msg("command", {"request_id": "b", "motions": [
            {"type": "pick", "position": [0.55, 0.0, 0.02], "yaw": 0.0}]}))
        assert spin_until(ex, lambda: len(results) >= 3, timeout=30)
    finally:
        ex.shutdown()
        node.destroy_node()
        probe.destroy_node()
    by_id = {r["request_id"]: r for r in results}
    assert by_id["a"]["ok"] is False and by_id["a"]["reason"] == "bad_command"
    assert by_id["b"]["ok"] is False and by_id["b"]["reason"] == "no_joint_states"
    assert node.counts["rejected_commands"] == 2 and node.counts["failed"] == 1


def test_an_executor_stopped_mid_move_holds_the_arm_and_ends_its_command(ros_context):
    """Destroyed while a move waits for its report (Ctrl-C mid-move): the arm is held where it is and
    the command ends at once, instead of the worker waiting out the motion timeout and holding the
    process (which ros2 launch then kills)."""
    import threading

    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Header, String
    from trajectory_msgs.msg import JointTrajectory

    from physgen.motion.kinematics import ArmModel
    from physgen_nodes.conversions import record_msg
    from physgen_nodes.executor_node import ExecutorNode

    node = ExecutorNode(context=ros_context, parameter_overrides=[Parameter("motion_timeout_s", value=600.0)])
    probe = Node("probe", context=ros_context)
    arm = probe.create_publisher(JointState, "joint_states", 10)
    trajectories = []
    for topic in ("arm_controller/joint_trajectory", "gripper_controller/joint_trajectory"):
        probe.create_subscription(JointTrajectory, topic, trajectories.append, 10)
    command = probe.create_publisher(String, "executor/command", 10)
    model = ArmModel()
    names = [*model.arm_joints, *model.finger_joints]
    home = [*model.rest_pose, *(model.finger_open for _ in model.finger_joints)]
    ex = executor(ros_context, node, probe)
    try:
        assert spin_until(ex, lambda: command.get_subscription_count() > 0 and arm.get_subscription_count() > 0)
        arm.publish(JointState(header=Header(stamp=probe.get_clock().now().to_msg()), name=names, position=home))
        spin_until(ex, lambda: False, timeout=0.3)
        command.publish(record_msg("command", {"request_id": "m", "motions": [
            {"type": "pick", "position": [0.55, 0.0, 0.02], "yaw": 0.0}]}))
        assert spin_until(ex, lambda: bool(trajectories), timeout=30)  # moving, waiting for a report that never comes
    finally:
        ex.shutdown()
    done = threading.Thread(target=node.destroy_node)
    done.start()
    done.join(timeout=120)
    probe.destroy_node()
    assert not done.is_alive()  # the worker did not wait out the 600 s motion timeout
    assert node.counts["holds"] == 1 and node.counts["failed"] == 1


def test_a_motion_report_updates_the_measured_joints_before_the_waiting_move_wakes():
    """The move waiting for a trajectory's report plans the next one from the measured joints: they
    must already be the report's when the report becomes visible (a race once made the graph plan
    from the joints before the trajectory, under load, and its episodes differ from in-process)."""
    import threading

    from physgen_nodes.executor_node import GraphHardware

    hw = GraphHardware(node=None)
    seen = []

    class Watched(threading.Condition):
        def notify_all(self):
            if 7 in hw._reports:  # the report is visible to a waiting move from here on
                seen.append(dict(hw._joints))
            super().notify_all()

    hw._state = Watched()
    hw.update_joints({"panda_joint1": 0.0}, 1)
    hw.report({"trajectory_stamp_ns": 7, "ok": True, "joints": {"panda_joint1": 0.5}, "stamp_ns": 9})
    assert seen and seen[0] == {"panda_joint1": 0.5}
