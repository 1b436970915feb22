"""The executor node: typed actions in, arm and gripper trajectories out.

``executor/command`` records ``{"request_id", "motions": [...], "joints_after_ns"}`` in, each motion
a :func:`physgen.motion.commands.motion_dict` (``pick``/``place``/``push`` with tool poses). The node
plans each straight move with IK on the arm's URDF (:class:`physgen.motion.planner.Planner`, the
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

import contextlib
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from builtin_interfaces.msg import Duration
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, JointState
from std_msgs.msg import Bool, Header, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from physgen.cell.config import MotionConfig, PhysicsConfig, SafetyConfig
from physgen.cell.gripper import GripperConfig
from physgen.config import ConfigError, in_range, one_of
from physgen.motion.commands import motion_of
from physgen.motion.kinematics import ArmModel
from physgen.motion.planner import Planner, kinematics
from physgen.motion.trajectory import Trajectory, to_duration
from physgen_nodes.cell_node import IMAGE_QOS
from physgen_nodes.conversions import Rejected, record_msg, record_of
from physgen_nodes.gripper_client import gripper_client
from physgen_nodes.params import declare_config
from physgen_nodes.runner import publish_matched, run_node

# the simulated cell's control period: its timestep x control_period_steps (a real arm sets its own)
DEFAULT_PERIOD_S = PhysicsConfig.timestep * MotionConfig.control_period_steps


@dataclass(frozen=True)
class ExecutorNodeConfig:
    motion: MotionConfig = field(default_factory=MotionConfig)
    arm: ArmModel = field(default_factory=ArmModel)  # the URDF, joints and tool link IK plans on (a real arm's)
    arm_topic: str = "arm_controller/joint_trajectory"  # the arm's JointTrajectoryController
    gripper_topic: str = "gripper_controller/joint_trajectory"  # the gripper's (finger joints), interface trajectory
    gripper: GripperConfig = field(default_factory=GripperConfig)  # or a gripper action (physgen/cell/gripper.py)
    safety: SafetyConfig = field(default_factory=SafetyConfig)  # every trajectory is screened (motion/safety.py)
    control_period_s: float = DEFAULT_PERIOD_S  # between line waypoints (a real arm's controller period)
    motion_timeout_s: float = 30.0  # per trajectory, for its cell/motion report
    done_by: str = "cell_motion"  # a trajectory is done: its cell/motion report (sim), or joint_states (a real arm)
    goal_tolerance: float = 0.01  # rad (m for fingers): done_by joint_states, the joints this near its last point
    armed: bool = True  # false: dry run, trajectories only on */joint_trajectory_preview (real arms start so)
    max_trajectories: int = 200  # per command; a plan needing more fails with too_many_trajectories
    joint_states_timeout_s: float = 0.0  # watchdog while moving: older joint states -> hold (0: off)
    camera_timeout_s: float = 0.0  # watchdog while moving: no camera_info for this long -> hold (0: off)

    def __post_init__(self) -> None:
        in_range("control_period_s", self.control_period_s, 1e-4, 1.0)
        in_range("motion_timeout_s", self.motion_timeout_s, 0.1, 3600.0)
        in_range("max_trajectories", self.max_trajectories, 1, 100_000)
        one_of("done_by", self.done_by, ("cell_motion", "joint_states"))
        in_range("goal_tolerance", self.goal_tolerance, 1e-5, 1.0)
        in_range("joint_states_timeout_s", self.joint_states_timeout_s, 0.0, 3600.0)
        in_range("camera_timeout_s", self.camera_timeout_s, 0.0, 3600.0)


SWITCH_S = 0.001  # s: the interpreter's thread switch interval in the executor's process (Python's default: 0.005)
SETTLE_S = 0.25  # done_by joint_states: s a gripper trajectory is given past its end (the cell holds as long)
# The e-stop is latched: a late joiner gets the last state (publish it transient-local too).
ESTOP_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def trajectory_msg(traj: Trajectory, stamp) -> JointTrajectory:
    msg = JointTrajectory(header=Header(stamp=stamp), joint_names=list(traj.joint_names))
    for t, q in zip(traj.times, traj.positions):
        sec, nanosec = to_duration(t)
        msg.points.append(JointTrajectoryPoint(positions=[float(v) for v in q],
                                               time_from_start=Duration(sec=sec, nanosec=nanosec)))
    return msg


def arm_kinematics(model: ArmModel):
    """The planner for ``model``; a URDF that does not load, or lacks a named joint or link, is a
    ConfigError naming ``arm.urdf``."""
    try:
        return kinematics(model)
    except Exception as e:  # noqa: BLE001 - pybullet.error or ValueError: either way the URDF is unusable
        raise ConfigError("arm.urdf", model.urdf, f"a URDF with joints {[*model.arm_joints, *model.finger_joints]} "
                                                  f"and link {model.tool_link!r} ({e})") from None


class GraphHardware:
    """The arm and gripper controllers on the ROS graph, as :class:`physgen.motion.hardware.Hardware`.

    While a trajectory runs it watches the e-stop and the watchdogs every control period: either
    stops it (a hold trajectory at the measured joints) and fails the move. Unarmed, trajectories go
    to the preview topics and the plan goes on from where each would end (nothing moves)."""

    def __init__(self, node: ExecutorNode):
        self.node = node
        self._state = threading.Condition()
        self._joints: dict[str, float] = {}
        self._previous: dict[str, float] = {}  # each joint's value before its latest
        self._stamps: dict[str, int] = {}  # each joint's latest stamp (arm and gripper may report apart)
        self._joints_stamp = -1  # the latest stamp of any
        self._joints_seen = time.monotonic()
        self._camera_seen = time.monotonic()
        self.not_before = 0  # ns; plan only from joints measured at or after this stamp
        self.sent = 0  # trajectories of the current command
        self._reports: dict[int, dict] = {}
        self.stop_reason = ""  # why the current command was stopped: it sends nothing more
        self.estopped = False  # latched by the e-stop until released: no command runs

    def update_joints(self, joints: dict[str, float], stamp_ns: int) -> None:
        with self._state:
            self._joints_seen = time.monotonic()
            newer = {n: q for n, q in joints.items() if stamp_ns >= self._stamps.get(n, -1)}
            if newer:
                self._previous.update({n: self._joints[n] for n in newer if n in self._joints})
                self._joints.update(newer)
                self._stamps.update(dict.fromkeys(newer, stamp_ns))
                self._joints_stamp = max(self._joints_stamp, stamp_ns)
                self._state.notify_all()

    def camera_seen(self) -> None:
        self._camera_seen = time.monotonic()

    def report(self, record: dict) -> None:
        """A trajectory's ``cell/motion`` report: the joints it measured at the end become the measured
        joints before the move that waits for the report sees it (the next move plans from them)."""
        with self._state:  # re-entrant: update_joints takes it too
            if isinstance(record.get("joints"), dict):
                self.update_joints({k: float(v) for k, v in record["joints"].items()}, int(record["stamp_ns"]))
            self._reports[int(record["trajectory_stamp_ns"])] = record
            self._state.notify_all()

    def joints(self) -> dict[str, float]:
        def fresh() -> bool:
            return bool(self._joints) and self._joints_stamp >= self.not_before

        with self._state:
            if not self._state.wait_for(fresh, timeout=self.node.config.motion_timeout_s):
                raise TimeoutError(f"no joint_states stamped at or after {self.not_before} ns")
            return dict(self._joints)

    def measured(self) -> dict[str, float]:
        with self._state:
            return dict(self._joints)

    def stop(self, reason: str) -> None:
        """Hold the arm where it is now and fail the running move with ``reason``."""
        with self._state:  # run() checks and sends under this lock: no trajectory goes out after the hold
            self.stop_reason = reason
            self.node.hold(self.measured())
            self._state.notify_all()

    def stale(self) -> str:
        """The watchdog's reason to hold the arm, or ``""``."""
        cfg, now = self.node.config, time.monotonic()
        if cfg.joint_states_timeout_s and now - self._joints_seen > cfg.joint_states_timeout_s:
            return "watchdog:joint_states"
        if cfg.camera_timeout_s and now - self._camera_seen > cfg.camera_timeout_s:
            return "watchdog:camera"
        return ""

    def stopped(self) -> str:
        """Why the running command is stopped (a stale watchdog stops it now), or ``""``."""
        if not self.stop_reason:
            stale = self.stale()
            if stale:
                self.stop(stale)
        return self.stop_reason

    def run(self, traj: Trajectory) -> str:
        node, cfg = self.node, self.node.config
        if self.stop_reason:
            return self.stop_reason
        self.sent += 1
        if self.sent > cfg.max_trajectories:
            return "too_many_trajectories"
        fingers = set(traj.joint_names) <= set(node.planner.model.finger_joints)
        stamp = node.get_clock().now()
        msg = trajectory_msg(traj, stamp.to_msg())
        if not cfg.armed:  # dry run: show it, and plan on from where it would end
            (node.gripper_preview_pub if fingers else node.arm_preview_pub).publish(msg)
            self.update_joints(dict(zip(traj.joint_names, traj.positions[-1])), stamp.nanoseconds)
            return ""
        if fingers and node.gripper is not None:
            return node.gripper.run(traj.positions[-1][0], cfg.motion_timeout_s, self.stopped, cfg.control_period_s)
        pub = node.gripper_pub if fingers else node.arm_pub
        with self._state:  # a stop (e-stop, watchdog) comes before this check or after this send, never between
            if self.stop_reason:
                return self.stop_reason
            if not publish_matched(pub, msg, wait=cfg.motion_timeout_s, cancel=self.stopped):
                return self.stop_reason or "no_controller"
        key, end = stamp.nanoseconds, time.monotonic() + cfg.motion_timeout_s
        if cfg.done_by == "joint_states":  # no motion reports on a real arm: done once there, after its duration
            at = time.monotonic() + traj.times[-1] + (SETTLE_S if fingers else 0.0)
            goal = dict(zip(traj.joint_names, traj.positions[-1]))

            def reached() -> bool:
                if time.monotonic() < at or self._joints_stamp < key:
                    return False
                if fingers:  # a gripper closing on a block stops short of its goal: done once its fingers are still
                    still = cfg.goal_tolerance / 10
                    moved = (abs(self._joints.get(n, 0.0) - self._previous.get(n, float("inf"))) for n in goal)
                    return all(m <= still for m in moved)
                return all(abs(self._joints.get(n, float("inf")) - q) <= cfg.goal_tolerance for n, q in goal.items())
        else:
            def reached() -> bool:
                return key in self._reports

        with self._state:  # the condition's lock is re-entrant: a watchdog may stop the move from here
            while not reached() and not self.stopped() and time.monotonic() < end:
                self._state.wait(timeout=cfg.control_period_s)
            done = reached()
            report = self._reports.pop(key, None)
            reason = self.stop_reason  # a hold (e-stop, watchdog) lasts to the end of this command
        if reason:
            return reason
        if not done:
            return "motion_timeout"
        if report is None:  # done_by joint_states: the arm is there
            return ""
        return "" if report.get("ok") else str(report.get("reason") or "motion_failed")


def topic_remaps(*arg_lists: list[str]) -> list[str]:
    """The topic remaps (``-r``/``--remap``) among the ROS arguments of ``arg_lists``, without the rules
    that rename or move a node (``__node``, ``__name``, ``__ns``), as ROS arguments."""
    rules = []
    for args in arg_lists:
        inside, it = False, iter(args)
        for a in it:
            if a in ("--ros-args", "--"):
                inside = a == "--ros-args"
            elif inside and a in ("-r", "--remap"):
                rule = next(it, "")
                if rule.split(":=")[0].rsplit(":", 1)[-1] not in ("__node", "__name", "__ns"):
                    rules += ["-r", rule]
    return ["--ros-args", *rules] if rules else []


class ExecutorNode(Node):
    def __init__(self, **kwargs):
        super().__init__("executor", **kwargs)
        self.config = declare_config(self, ExecutorNodeConfig)
        self.planner = Planner(arm_kinematics(self.config.arm), self.config.motion, self.config.control_period_s,
                                self.config.safety)
        self.hardware = GraphHardware(self)
        self.gripper = (gripper_client(self, self.config.gripper, self.config.arm.finger_open)
                        if self.config.gripper.by_action else None)
        self.counts = {"commands": 0, "rejected_commands": 0, "done": 0, "failed": 0, "estops": 0,
                       "estop_refused": 0, "holds": 0}
        cfg = self.config
        self.arm_pub = self.create_publisher(JointTrajectory, cfg.arm_topic, 10)
        self.gripper_pub = self.create_publisher(JointTrajectory, cfg.gripper_topic, 10)
        self.arm_preview_pub = self.create_publisher(JointTrajectory, cfg.arm_topic + "_preview", 10)
        self.gripper_preview_pub = self.create_publisher(JointTrajectory, cfg.gripper_topic + "_preview", 10)
        sys.setswitchinterval(SWITCH_S)  # a waiting safety callback gets the interpreter sooner
        # The e-stop gets a node and a thread of its own: no other callback (joint states at the arm's
        # rate, camera info, commands) ever queues in front of it. Its name is this node's + "_estop":
        # launch's name= is `-r __node:=NAME`, which would rename every node of the process, so the
        # e-stop node takes the process's topic remaps (estop:=/robot/estop) but no other global argument.
        self._estop_node = Node(f"{self.get_name()}_estop", namespace=self.get_namespace(), context=self.context,
                                cli_args=topic_remaps(sys.argv, kwargs.get("cli_args") or []),
                                use_global_arguments=False)
        self._estop_node.create_subscription(Bool, "estop", self._on_estop, ESTOP_QOS)
        self._estop_spin = SingleThreadedExecutor(context=self.context)
        self._estop_spin.add_node(self._estop_node)
        self._estop_thread = threading.Thread(target=self._spin_estop, name="executor-estop", daemon=True)
        self._estop_thread.start()
        self.create_subscription(CameraInfo, "camera/camera_info", lambda _m: self.hardware.camera_seen(), IMAGE_QOS)
        self.result_pub = self.create_publisher(String, "executor/result", 10)
        self.create_subscription(JointState, "joint_states", self._on_joints, 10)
        self.create_subscription(String, "cell/motion", self._on_motion, 50)
        self.create_subscription(String, "executor/command", self._on_command, 10)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="executor")
        self._moving = threading.Event()  # a command runs on the worker
        gripper = self.gripper_pub.topic_name if self.gripper is None else f"the {cfg.gripper.action} action"
        self.get_logger().info(f"armed: trajectories go to {self.arm_pub.topic_name} and {gripper}" if cfg.armed else
                               f"not armed (a dry run): trajectories go only to {self.arm_preview_pub.topic_name} "
                               f"and {self.gripper_preview_pub.topic_name}")

    def _on_joints(self, msg: JointState) -> None:
        if len(msg.name) == len(msg.position):
            joints = dict(zip(msg.name, msg.position))
            g = self.config.gripper
            if g.by_action and g.joint in joints:  # the gripper's joint as the planner's finger opening
                opening = g.opening(joints[g.joint], self.config.arm.finger_open)
                joints |= dict.fromkeys(self.config.arm.finger_joints, opening)
            self.hardware.update_joints(joints, Time.from_msg(msg.header.stamp).nanoseconds)

    def _on_motion(self, msg: String) -> None:
        try:
            self.hardware.report(record_of(msg, "motion"))
        except (Rejected, KeyError, TypeError, ValueError) as e:
            self.get_logger().warning(f"motion report ignored: {e}")

    def _spin_estop(self) -> None:
        with contextlib.suppress(ExternalShutdownException):  # the context went down with the process
            self._estop_spin.spin()

    def _on_estop(self, msg: Bool) -> None:
        """Engaged (true): hold the arm at once, fail the running move, refuse commands; latched until
        a false message releases it."""
        if msg.data and not self.hardware.estopped:
            self.hardware.estopped = True
            self.hardware.stop("estop")
            self.counts["estops"] += 1
            self.get_logger().error("e-stop engaged: arm held, commands refused until released")
        elif not msg.data and self.hardware.estopped:
            self.hardware.estopped = False  # the stopped command stays stopped; the next one may run
            self.get_logger().warning("e-stop released")

    def hold(self, joints: dict[str, float]) -> None:
        """A one-point trajectory at the measured arm ``joints``: the controller stops there."""
        names = [n for n in self.planner.model.arm_joints if n in joints]
        if names:
            hold = Trajectory(tuple(names), (self.config.control_period_s,), (tuple(joints[n] for n in names),))
            self.arm_pub.publish(trajectory_msg(hold, self.get_clock().now().to_msg()))
            self.counts["holds"] += 1

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
        if self.hardware.estopped:
            self.counts["estop_refused"] += 1
            publish_matched(self.result_pub, record_msg("result", {"request_id": req.get("request_id"), "ok": False,
                                                                   "reason": "estop", "motions": []}))
            return
        self.counts["commands"] += 1
        self._worker.submit(self._execute, req.get("request_id"), motions, not_before)

    def _execute(self, request_id, motions, not_before: int = 0) -> None:
        self._moving.set()
        self.hardware.not_before, self.hardware.sent = not_before, 0
        self.hardware.stop_reason = "estop" if self.hardware.estopped else ""
        try:
            results = self.planner.execute(self.hardware, motions)
            reason = next((r.reason for r in results if not r.ok), "")
            if not self.config.armed:  # nothing moved: no check after a move (grasp, reach) says anything
                reason = "dry_run"
            payload = [r.to_dict() for r in results]
        except TimeoutError as e:  # no joint states at all: nothing moved
            reason, payload = "no_joint_states", []
            self.get_logger().error(f"request {request_id}: {e}")
        finally:
            self._moving.clear()
        self.counts["failed" if reason else "done"] += 1
        publish_matched(self.result_pub, record_msg("result", {"request_id": request_id, "ok": not reason,
                                                               "reason": reason, "motions": payload}))

    def destroy_node(self) -> None:
        if hasattr(self, "_worker"):
            if self._moving.is_set():  # a move under way: the arm holds where it is, the command ends
                with contextlib.suppress(RuntimeError):  # rclpy's RCLError: the context is already down
                    self.hardware.stop("shutdown")
            self._worker.shutdown(wait=True, cancel_futures=True)
        if hasattr(self, "_estop_spin"):
            self._estop_spin.shutdown(timeout_sec=2.0)
            # out of rclpy's wait before the node and the context go: a thread still inside it at
            # interpreter exit aborts the process ("terminate called without an active exception")
            self._estop_thread.join(timeout=5.0)
            self._estop_node.destroy_node()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(ExecutorNode, args)


if __name__ == "__main__":
    main()
