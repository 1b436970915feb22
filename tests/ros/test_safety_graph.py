"""Safety on the graph, with the cell node as stand-in hardware (JointState out, JointTrajectory in):
an unarmed executor only previews, a latched e-stop holds the arm and refuses commands until
released, the joint-state watchdog holds a move whose arm went silent."""

from __future__ import annotations

import pytest
from ros_helpers import executor, spin_until

PICK = {"type": "pick", "position": [0.55, 0.0, 0.02], "yaw": 0.0}


class Rig:
    """An executor node (with ``params``), optionally a cell node, and a probe that commands them."""

    def __init__(self, ctx, params: dict, cell: bool = True):
        from rclpy.node import Node
        from rclpy.parameter import Parameter
        from std_msgs.msg import Bool, String
        from trajectory_msgs.msg import JointTrajectory

        from physgen_nodes.cell_node import CellNode
        from physgen_nodes.conversions import record_of
        from physgen_nodes.executor_node import ESTOP_QOS, ExecutorNode

        self.node = ExecutorNode(context=ctx, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        self.cell = CellNode(context=ctx) if cell else None
        self.probe = Node("probe", context=ctx)
        self.results, self.sent, self.previews, self.gripper = [], [], [], []
        self.probe.create_subscription(String, "executor/result", lambda m: self.results.append(record_of(m, "result")),
                                       10)
        self.probe.create_subscription(JointTrajectory, "arm_controller/joint_trajectory", self.sent.append, 10)
        self.probe.create_subscription(JointTrajectory, "arm_controller/joint_trajectory_preview", self.previews.append,
                                       10)
        self.probe.create_subscription(JointTrajectory, "gripper_controller/joint_trajectory", self.gripper.append, 10)
        self.command = self.probe.create_publisher(String, "executor/command", 10)
        self.estop = self.probe.create_publisher(Bool, "estop", ESTOP_QOS)
        self.ex = executor(ctx, *[n for n in (self.node, self.cell, self.probe) if n])
        assert spin_until(self.ex, lambda: self.command.get_subscription_count() > 0)

    def run(self, request_id: str, timeout: float = 60.0) -> dict:
        from physgen_nodes.conversions import record_msg

        self.command.publish(record_msg("command", {"request_id": request_id, "motions": [PICK]}))
        assert spin_until(self.ex, lambda: any(r["request_id"] == request_id for r in self.results), timeout)
        return next(r for r in self.results if r["request_id"] == request_id)

    def spin(self, condition, timeout: float = 30.0) -> bool:
        return spin_until(self.ex, condition, timeout)

    def close(self) -> None:
        self.ex.shutdown()
        for n in (self.node, self.cell, self.probe):
            if n:
                n.destroy_node()


def test_an_unarmed_executor_previews_the_whole_plan_and_never_moves_the_arm(ros_context):
    rig = Rig(ros_context, {"armed": False})
    try:
        assert rig.spin(lambda: bool(rig.node.hardware.measured()))
        result = rig.run("dry")
        assert result["ok"] is False and result["reason"] == "dry_run"
        assert rig.spin(lambda: len(rig.previews) >= 3)  # approach, descend, lift, ...: the plan went on
        assert rig.sent == [] and rig.cell.counts["trajectories"] == 0
        assert {m["primitive"] for m in result["motions"]} == {"pick", "home"}
    finally:
        rig.close()


def test_a_latched_estop_holds_the_arm_and_refuses_commands_until_released(ros_context):
    from std_msgs.msg import Bool

    from physgen_nodes.conversions import record_msg

    rig = Rig(ros_context, {})
    try:
        assert rig.spin(lambda: bool(rig.node.hardware.measured()))
        rig.command.publish(record_msg("command", {"request_id": "moving", "motions": [PICK]}))
        assert rig.spin(lambda: len(rig.sent) >= 2)  # the arm is on its way
        rig.estop.publish(Bool(data=True))
        assert rig.spin(lambda: any(r["request_id"] == "moving" for r in rig.results))
        moving = next(r for r in rig.results if r["request_id"] == "moving")
        assert moving["ok"] is False and moving["reason"] == "estop"
        assert rig.node.counts["holds"] >= 1 and rig.node.counts["estops"] == 1
        assert rig.spin(lambda: len(rig.sent[-1].points) == 1)  # the hold, at the measured joints, arrives
        rig.spin(lambda: False, timeout=0.5)
        held = rig.sent[-1]  # and nothing was sent after it
        assert len(held.points) == 1
        refused = rig.run("while_stopped")
        assert refused["reason"] == "estop" and rig.node.counts["estop_refused"] == 1
        before = len(rig.sent)
        rig.spin(lambda: False, timeout=0.5)
        assert len(rig.sent) == before  # nothing moves while it is engaged
        rig.estop.publish(Bool(data=False))
        assert rig.spin(lambda: not rig.node.hardware.estopped)
        rig.spin(lambda: False, timeout=0.5)
        assert len(rig.sent) == before  # released: the stopped command stays stopped
        again = rig.run("released")  # runs to its end (the empty table: nothing to grasp)
        assert again["reason"] == "gripper_closed_empty" and len(rig.sent) > before + 3
    finally:
        rig.close()


@pytest.mark.parametrize(("params", "streaming", "reason"), [
    ({"joint_states_timeout_s": 0.3}, False, "watchdog:joint_states"),  # one joint state, then the arm is silent
    ({"camera_timeout_s": 0.3}, True, "watchdog:camera"),  # the arm reports, the camera does not
], ids=["joint_states", "camera"])
def test_a_watchdog_holds_a_move_when_its_source_goes_silent(ros_context, params, streaming, reason):
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Header

    from physgen.motion.kinematics import ArmModel

    rig = Rig(ros_context, {**params, "motion_timeout_s": 10.0}, cell=False)
    try:
        model = ArmModel()
        states = rig.probe.create_publisher(JointState, "joint_states", 10)

        def report() -> None:
            states.publish(JointState(header=Header(stamp=rig.probe.get_clock().now().to_msg()),
                                      name=[*model.arm_joints, *model.finger_joints],
                                      position=[*model.rest_pose, 0.04, 0.04]))

        assert rig.spin(lambda: states.get_subscription_count() > 0)
        if streaming:
            rig.probe.create_timer(0.05, report)
        else:
            report()
        assert rig.spin(lambda: bool(rig.node.hardware.measured()))
        result = rig.run("silent", timeout=30.0)
        assert result["ok"] is False and result["reason"] == reason
        # the first move (the gripper opening), the hold, and nothing after it
        assert rig.spin(lambda: len(rig.sent) + len(rig.gripper) == 2, timeout=5)
        rig.spin(lambda: False, timeout=0.5)
        assert rig.node.counts["holds"] == 1 and len(rig.sent) + len(rig.gripper) == 2
    finally:
        rig.close()


def test_a_plan_longer_than_max_trajectories_stops_there(ros_context):
    rig = Rig(ros_context, {"max_trajectories": 2})
    try:
        assert rig.spin(lambda: bool(rig.node.hardware.measured()))
        result = rig.run("long")
        assert result["ok"] is False and result["reason"] == "too_many_trajectories"
        assert rig.spin(lambda: rig.cell.counts["trajectories"] == 2, timeout=10)
        rig.spin(lambda: False, timeout=0.5)
        assert rig.cell.counts["trajectories"] == 2  # the plan went no further
    finally:
        rig.close()
