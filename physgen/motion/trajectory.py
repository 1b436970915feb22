"""Joint trajectories as a ros2_control JointTrajectoryController takes them: named joints,
waypoints with times from start, linear interpolation between them. ROS-free; the cell node
converts ``trajectory_msgs/JointTrajectory`` into :class:`Trajectory`.

Execution is deterministic: the number of physics steps follows from the trajectory's duration,
never from the wall clock, so the same trajectory gives the same outcome over ROS and in-process.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from physgen.cell.arm import FINGER_OPEN

if TYPE_CHECKING:
    from physgen.cell.cell import RobotCell

FINGERS = ("panda_finger_joint1", "panda_finger_joint2")


def to_duration(t: float) -> tuple[int, int]:
    """Seconds as ``builtin_interfaces/Duration`` (sec, nanosec)."""
    ns = int(round(t * 1e9))
    return ns // 1_000_000_000, ns % 1_000_000_000


def from_duration(sec: int, nanosec: int) -> float:
    return sec + nanosec * 1e-9


def on_the_wire(t: float) -> float:
    """``t`` as it arrives after a trip through a ROS message: plans use these times, so a
    trajectory runs the same physics steps in-process and over ROS."""
    return from_duration(*to_duration(t))


@dataclass(frozen=True)
class Trajectory:
    joint_names: tuple[str, ...]
    times: tuple[float, ...]  # seconds from start, strictly increasing
    positions: tuple[tuple[float, ...], ...]  # one row per waypoint, in joint_names order


def malformed(traj: Trajectory, joints: Collection[str]) -> str:
    """What is wrong with ``traj``'s shape for an arm with ``joints``, as a reason code, else ``""``:
    ``empty``, ``unknown_joint`` (also a joint named twice), ``bad_length``, ``not_finite``,
    ``times_not_increasing`` (times from a non-negative start, each after the last). The cell's check
    and the safety screen both start here."""
    names = traj.joint_names
    if not names or not traj.times:
        return "empty"
    if any(n not in joints for n in names) or len(set(names)) != len(names):
        return "unknown_joint"
    if len(traj.positions) != len(traj.times) or any(len(p) != len(names) for p in traj.positions):
        return "bad_length"
    if not all(math.isfinite(v) for row in traj.positions for v in row) or not all(map(math.isfinite, traj.times)):
        return "not_finite"
    if traj.times[0] < 0 or any(b <= a for a, b in zip(traj.times, traj.times[1:])):
        return "times_not_increasing"
    return ""


def check(traj: Trajectory, cell: RobotCell) -> str:
    """A reason code when ``traj`` cannot be executed on this cell's arm (:func:`malformed`, then
    ``out_of_limits``), else ``""``."""
    arm = cell.arm
    if arm is None:
        return "no_arm"
    bad = malformed(traj, set(arm.joint_names))
    if bad:
        return bad
    lower, upper = _limits(cell)
    for row in traj.positions:
        for name, q in zip(traj.joint_names, row):
            if q < lower[name] - 1e-9 or q > upper[name] + 1e-9:
                return "out_of_limits"
    return ""


def _limits(cell: RobotCell) -> tuple[dict[str, float], dict[str, float]]:
    arm = cell.arm
    names = arm.joint_names
    lower = dict(zip(names[:7], arm.lower_limits)) | {f: 0.0 for f in FINGERS}
    upper = dict(zip(names[:7], arm.upper_limits)) | {f: FINGER_OPEN for f in FINGERS}
    return lower, upper


def follow(cell: RobotCell, traj: Trajectory, hold_time: float = 0.25) -> dict:
    """Track ``traj`` (checked first) with the arm's position control, then hold the last
    waypoint for ``hold_time`` seconds. Returns the final tracking error per joint (rad or m)."""
    steps = follow_steps(cell, traj, hold_time)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def follow_steps(cell: RobotCell, traj: Trajectory, hold_time: float = 0.25):
    """:func:`follow` one control period at a time: a generator that advances the physics by one
    period per ``next()`` and returns (``StopIteration.value``) the final tracking errors. A caller
    that stops early leaves the arm holding where it is (a newer trajectory replaces this one)."""
    reason = check(traj, cell)
    if reason:
        raise ValueError(f"trajectory rejected: {reason}")
    arm, n = cell.arm, cell.config.motion.control_period_steps
    dt = cell.config.physics.timestep * n
    joints, fingers = commands(cell, traj, hold_time)
    for q, opening in zip(joints.tolist(), fingers.tolist()):
        arm.command(q, opening)
        cell.step(n)
        yield dt
    if any(name in FINGERS for name in traj.joint_names):
        cell.hand_over()
    final = dict(zip(arm.joint_names, arm.joint_positions()))
    return {name: float(abs(final[name] - q)) for name, q in zip(traj.joint_names, traj.positions[-1])}


def commands(cell: RobotCell, traj: Trajectory, hold_time: float) -> tuple[np.ndarray, np.ndarray]:
    """What following ``traj`` from the arm's state now sends, per control period: the arm joints'
    targets (periods x 7) and the finger opening (periods). Joints the trajectory leaves out keep
    their targets; waypoints are interpolated linearly, from the measured joints when the first
    waypoint's time is after 0; the last is held for ``hold_time`` seconds."""
    arm = cell.arm
    names = list(arm.joint_names)
    dt = cell.config.physics.timestep * cell.config.motion.control_period_steps
    times = np.asarray((0.0, *traj.times)) if traj.times[0] > 0 else np.asarray(traj.times)
    cols = [names.index(n) for n in traj.joint_names]
    first = [np.asarray(arm.joint_positions())[cols]] if traj.times[0] > 0 else []
    waypoints = np.asarray([*first, *[np.asarray(p) for p in traj.positions]])
    ticks = int(np.ceil((times[-1] + hold_time) / dt))
    t = np.minimum(np.arange(1, ticks + 1) * dt, times[-1])
    targets = np.tile(np.asarray([*arm.hold_targets(), arm.finger_target, arm.finger_target]), (ticks, 1))
    for i, c in enumerate(cols):
        targets[:, c] = np.interp(t, times, waypoints[:, i])
    return targets[:, :7], np.clip(targets[:, 7:9].mean(axis=1), 0.0, FINGER_OPEN)
