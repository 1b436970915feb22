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
