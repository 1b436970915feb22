"""The executor node: typed actions in, arm and gripper trajectories out.

``executor/command`` records ``{"request_id", "motions": [...], "joints_after_ns"}`` in, each motion
a :func:`physgen.cell.primitives.motion_dict` (``pick``/``place``/``push`` with tool poses). The node
plans each straight move with IK on the arm's URDF (:class:`physgen.cell.primitives.Executor`, the
planner the in-process episodes use), checks it against the URDF joint limits and the workspace,
and publishes ``trajectory_msgs/JointTrajectory`` on ``arm_controller/joint_trajectory`` and
``gripper_controller/joint_trajectory``. Every move is planned from the measured joints: the latest
of ``joint_states`` and the cell's ``cell/motion`` reports, by stamp, and none older than the
command's ``joints_after_ns``. Each trajectory waits for its ``cell/motion`` report
(``motion_timeout_s``). ``executor/result`` out: ``{"request_id", "ok", "reason", "motions":
[MotionResult dicts]}``. Parameters: ``motion.*`` (:class:`physgen.cell.config.MotionConfig`),
``control_period_s``, ``motion_timeout_s``.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from builtin_interfaces.msg import Duration
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import JointState
from std_msgs.msg import Header, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from physgen.cell.config import MotionConfig
from physgen.cell.primitives import Executor, kinematics, motion_of
from physgen.cell.trajectory import Trajectory, to_duration
from physgen.config import in_range
from physgen.safety import SafetyConfig
from physgen_nodes.conversions import Rejected, record_msg, record_of
from physgen_nodes.params import declare_config
from physgen_nodes.runner import publish_matched, run_node


@dataclass(frozen=True)
class ExecutorNodeConfig:
    motion: MotionConfig = field(default_factory=MotionConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)  # every trajectory is screened (physgen/safety.py)
    control_period_s: float = 4 / 240  # between line waypoints; the cell's timestep x control_period_steps
    motion_timeout_s: float = 30.0  # per trajectory, for its cell/motion report

    def __post_init__(self) -> None:
        in_range("control_period_s", self.control_period_s, 1e-4, 1.0)
        in_range("motion_timeout_s", self.motion_timeout_s, 0.1, 3600.0)


def trajectory_msg(traj: Trajectory, stamp) -> JointTrajectory:
    msg = JointTrajectory(header=Header(stamp=stamp), joint_names=list(traj.joint_names))
    for t, q in zip(traj.times, traj.positions):
        sec, nanosec = to_duration(t)
        msg.points.append(JointTrajectoryPoint(positions=[float(v) for v in q],
                                               time_from_start=Duration(sec=sec, nanosec=nanosec)))
    return msg


class GraphHardware:
    """The arm and gripper controllers on the ROS graph, as :class:`physgen.cell.primitives.Hardware`."""

    def __init__(self, node: ExecutorNode):
        self.node = node
        self._state = threading.Condition()
        self._joints: dict[str, float] = {}
        self._joints_stamp = -1
        self.not_before = 0  # ns; plan only from joints measured at or after this stamp
        self._reports: dict[int, dict] = {}

    def update_joints(self, joints: dict[str, float], stamp_ns: int) -> None:
        with self._state:
            if stamp_ns >= self._joints_stamp:
                self._joints, self._joints_stamp = dict(joints), stamp_ns
                self._state.notify_all()

    def report(self, record: dict) -> None:
        with self._state:
            self._reports[int(record["trajectory_stamp_ns"])] = record
            self._state.notify_all()
        if isinstance(record.get("joints"), dict):
            self.update_joints({k: float(v) for k, v in record["joints"].items()}, int(record["stamp_ns"]))

    def joints(self) -> dict[str, float]:
        def fresh() -> bool:
            return bool(self._joints) and self._joints_stamp >= self.not_before

        with self._state:
            if not self._state.wait_for(fresh, timeout=self.node.config.motion_timeout_s):
                raise TimeoutError(f"no joint_states stamped at or after {self.not_before} ns")
            return dict(self._joints)

    def run(self, traj: Trajectory) -> str:
        model = self.node.planner.model
        fingers = set(traj.joint_names) <= set(model.finger_joints)
        stamp = self.node.get_clock().now()
        key = stamp.nanoseconds
        pub = self.node.gripper_pub if fingers else self.node.arm_pub
        if not publish_matched(pub, trajectory_msg(traj, stamp.to_msg()), wait=self.node.config.motion_timeout_s):
            return "no_controller"
        with self._state:
            got = self._state.wait_for(lambda: key in self._reports, timeout=self.node.config.motion_timeout_s)
            report = self._reports.pop(key, None)
        if not got or report is None:
            return "motion_timeout"
        return "" if report.get("ok") else str(report.get("reason") or "motion_failed")


class ExecutorNode(Node):
    def __init__(self, **kwargs):
        super().__init__("executor", **kwargs)
        self.config = declare_config(self, ExecutorNodeConfig)
        self.planner = Executor(kinematics(), self.config.motion, self.config.control_period_s, self.config.safety)
        self.hardware = GraphHardware(self)
        self.counts = {"commands": 0, "rejected_commands": 0, "done": 0, "failed": 0}
        group = ReentrantCallbackGroup()
        self.arm_pub = self.create_publisher(JointTrajectory, "arm_controller/joint_trajectory", 10)
        self.gripper_pub = self.create_publisher(JointTrajectory, "gripper_controller/joint_trajectory", 10)
        self.result_pub = self.create_publisher(String, "executor/result", 10)
        self.create_subscription(JointState, "joint_states", self._on_joints, 10, callback_group=group)
        self.create_subscription(String, "cell/motion", self._on_motion, 50, callback_group=group)
        self.create_subscription(String, "executor/command", self._on_command, 10, callback_group=group)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="executor")

    def _on_joints(self, msg: JointState) -> None:
        if len(msg.name) == len(msg.position):
            self.hardware.update_joints(dict(zip(msg.name, msg.position)), Time.from_msg(msg.header.stamp).nanoseconds)

    def _on_motion(self, msg: String) -> None:
        try:
            self.hardware.report(record_of(msg, "motion"))
        except (Rejected, KeyError, TypeError, ValueError) as e:
            self.get_logger().warning(f"motion report ignored: {e}")

    def _on_command(self, msg: String) -> None:
        req = {}
        try:
            req = record_of(msg, "command")
            motions = [motion_of(m) for m in req["motions"]]
            not_before = int(req.get("joints_after_ns") or 0)
        except (Rejected, KeyError, TypeError, ValueError) as e:
            self.counts["rejected_commands"] += 1
            self.get_logger().warning(f"command rejected: {e}")
            publish_matched(self.result_pub, record_msg("result", {"request_id": req.get("request_id"), "ok": False,
                                                                   "reason": "bad_command", "motions": []}))
            return
        self.counts["commands"] += 1
        self._worker.submit(self._execute, req.get("request_id"), motions, not_before)

    def _execute(self, request_id, motions, not_before: int = 0) -> None:
        self.hardware.not_before = not_before
        try:
            results = self.planner.execute(self.hardware, motions)
            reason = next((r.reason for r in results if not r.ok), "")
            payload = [r.to_dict() for r in results]
        except TimeoutError as e:  # no joint states at all: nothing moved
            reason, payload = "no_joint_states", []
            self.get_logger().error(f"request {request_id}: {e}")
        self.counts["failed" if reason else "done"] += 1
        publish_matched(self.result_pub, record_msg("result", {"request_id": request_id, "ok": not reason,
                                                               "reason": reason, "motions": payload}))

    def destroy_node(self) -> None:
        if hasattr(self, "_worker"):
            self._worker.shutdown(wait=False, cancel_futures=True)
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(ExecutorNode, args)


if __name__ == "__main__":
    main()
