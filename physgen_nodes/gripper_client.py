"""A gripper driven by a ``control_msgs`` action (GripperCommand or ParallelGripperCommand), for the
executor node: a finger opening in, one goal out, done when the server answers
(:mod:`physgen.cell.gripper` has the interfaces and the position map).

A goal that ends SUCCEEDED or ABORTED means the gripper stopped: at its goal, or on an object (a
GripperActionController aborts on a stall unless ``allow_stalling``; franka_gripper's grasp aborts
when the object is not the commanded width). Either way the primitive then reads the finger
opening from ``joint_states``. A rejected goal fails the move with ``gripper_rejected``; a canceled
one with ``gripper_canceled``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from sensor_msgs.msg import JointState

from physgen.cell.gripper import GripperConfig
from physgen.config import ConfigError

STOPPED = (GoalStatus.STATUS_SUCCEEDED, GoalStatus.STATUS_ABORTED)


def action_type(interface: str):
    """The control_msgs action class of ``interface``; a ConfigError naming ``gripper.interface``
    where control_msgs is not installed (no pip wheel: it comes with a ROS 2 install)."""
    try:
        from control_msgs.action import GripperCommand, ParallelGripperCommand
    except ImportError:
        raise ConfigError("gripper.interface", interface,
                          "trajectory, or control_msgs installed (apt install ros-$ROS_DISTRO-control-msgs)") from None
    return GripperCommand if interface == "gripper_command" else ParallelGripperCommand


def gripper_client(node, cfg: GripperConfig, finger_open: float) -> GripperClient:
    kind = action_type(cfg.interface)
    return GripperClient(cfg, finger_open, kind, ActionClient(node, kind, cfg.action))


class GripperClient:
    """``kind``: the action class; ``client``: an ``rclpy.action.ActionClient`` of it."""

    def __init__(self, cfg: GripperConfig, finger_open: float, kind, client):
        self.cfg, self.finger_open, self.kind, self.client = cfg, finger_open, kind, client

    def goal(self, opening: float):
        """The goal that opens the fingers to ``opening`` m each."""
        cfg, goal = self.cfg, self.kind.Goal()
        position = float(cfg.position(opening, self.finger_open))
        if cfg.interface == "gripper_command":
            goal.command.position, goal.command.max_effort = position, float(cfg.max_effort)
        else:
            goal.command = JointState(name=[cfg.joint], position=[position], effort=[float(cfg.max_effort)])
        return goal

    def run(self, opening: float, timeout: float, stopped: Callable[[], str], period: float) -> str:
        """Send the goal and wait for its end, checking ``stopped()`` (a hold reason, or "") every
        ``period`` s; a stop cancels the goal. ``""`` when the gripper stopped, else a reason."""
        if not self.client.wait_for_server(timeout_sec=timeout):
            return "no_controller"
        end, changed = time.monotonic() + timeout, threading.Event()
        sent = self.client.send_goal_async(self.goal(opening))
        sent.add_done_callback(lambda _f: changed.set())
        handle, result = None, None
        while time.monotonic() < end:
            reason = stopped()
            if reason:
                if handle is not None:
                    handle.cancel_goal_async()
                return reason
            if handle is None and sent.done():
                handle = sent.result()
                if not handle.accepted:
                    return "gripper_rejected"
                result = handle.get_result_async()
                result.add_done_callback(lambda _f: changed.set())
            if result is not None and result.done():
                status = result.result().status
                return "" if status in STOPPED else "gripper_canceled"
            changed.wait(timeout=period)
            changed.clear()
        if handle is not None:
            handle.cancel_goal_async()
        return "motion_timeout"
