"""Motion primitives on the real gripper: pick, place, push. Each reports commanded vs achieved.

Primitives never raise on a physical failure (a slipped grasp, an unreachable pose): they return a
result with ``ok = False`` and a ``reason``; the physics then decides the task outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from physgen.cell.arm import FINGER_OPEN, HOME_EE
from physgen.cell.cell import RobotCell

Vec3 = tuple[float, float, float]
REACH = ((0.25, 0.8), (-0.45, 0.45), (0.0, 0.6))  # x, y, z bounds of targets the primitives accept


@dataclass(frozen=True)
class MotionResult:
    """What a primitive did: the pose it was asked for and the one it reached."""

    primitive: str
    ok: bool
    commanded: Vec3
    achieved: Vec3
    reason: str = ""
    details: dict = field(default_factory=dict)

    @property
    def error(self) -> float:
        return float(np.linalg.norm(np.subtract(self.commanded, self.achieved)))

    def to_dict(self) -> dict:
        return {
            "primitive": self.primitive, "ok": self.ok, "reason": self.reason,
            "commanded": [round(v, 5) for v in self.commanded],
            "achieved": [round(v, 5) for v in self.achieved],
            "error": round(self.error, 5), **self.details,
        }


def reachable(p: Vec3) -> bool:
    return all(lo <= v <= hi for v, (lo, hi) in zip(p, REACH))


def _gripper(cell: RobotCell, opening: float, seconds: float = 0.3) -> None:
    cell.arm.set_gripper(opening)
    cell.step(int(seconds / cell.config.physics.timestep))


def _yaw_for(cell: RobotCell, block: str) -> float:
    """Grasp yaw that closes the fingers along the block's x side when it is not the longer one.

    At yaw 0 the Panda's fingers close along world y. Scenes spread along y, so closing along x
    (yaw 90 degrees) keeps the fingers clear of neighbouring towers."""
    spec = cell.scene.block(block)
    sx, sy = spec.size[0], spec.size[1]
    return spec.yaw + (np.pi / 2 if sx <= sy else 0.0)


def pick(cell: RobotCell, block: str) -> MotionResult:
    """Grasp ``block`` from above at its centre and lift it by the approach height."""
    arm, m = cell.arm, cell.config.motion
    pos = cell.block_pose(block).position
    commanded = tuple(pos)
    if not reachable(commanded):
        return MotionResult("pick", False, commanded, arm.state().ee_position, "unreachable")
    yaw = _yaw_for(cell, block)
    above = (pos[0], pos[1], pos[2] + m.approach_height)
    _gripper(cell, FINGER_OPEN, 0.05)
    arm.move_line(above, yaw, cell.step)
    arm.move_line(commanded, yaw, cell.step)
    _gripper(cell, 0.0, 0.35)
    at_grasp = arm.state().ee_position
    cell.unpin(block)  # the hand holds it now
    arm.move_line(above, yaw, cell.step)
    z_lift = cell.block_pose(block).position[2] - pos[2]
    gap = arm.state().finger_gap
    held = z_lift > 0.5 * m.approach_height and gap > 0.005
    reason = "" if held else ("gripper_closed_empty" if gap <= 0.005 else "grasp_slipped")
    details = {"lift": round(z_lift, 4), "finger_gap": round(gap, 4)}
    return MotionResult("pick", held, commanded, at_grasp, reason, details)


def place(cell: RobotCell, block: str, target: Vec3, release_height: float = 0.0) -> MotionResult:
    """Carry the held ``block`` so its centre reaches ``target``, open the gripper, retract.

    The block is lowered to ``release_height`` above the target before opening. ``achieved`` is
    the block's centre right after the gripper has opened (before the scene is settled).
    """
    arm, m = cell.arm, cell.config.motion
    if not reachable(target):
        return MotionResult("place", False, tuple(target), cell.block_pose(block).position, "unreachable")
    yaw = _yaw_for(cell, block)
    grasp_offset = np.subtract(cell.block_pose(block).position, arm.state().ee_position)
    ee_goal = np.subtract(target, grasp_offset) + (0.0, 0.0, release_height)
    above = (ee_goal[0], ee_goal[1], max(ee_goal[2], cell.block_pose(block).position[2]) + m.approach_height)
    arm.move_line(above, yaw, cell.step)
    arm.move_line(tuple(ee_goal), yaw, cell.step)
    _gripper(cell, FINGER_OPEN, 0.3)
    achieved = cell.block_pose(block).position
    retreat = (ee_goal[0], ee_goal[1], ee_goal[2] + m.approach_height)
    arm.move_line(retreat, yaw, cell.step)
    return MotionResult("place", True, tuple(target), achieved)


def push(cell: RobotCell, start: Vec3, direction: Vec3, distance: float) -> MotionResult:
    """Close the gripper, lower it at ``start`` and push in a straight line along ``direction``."""
    arm, m = cell.arm, cell.config.motion
    d = np.asarray(direction, dtype=float)
    d[2] = 0.0
    d /= np.linalg.norm(d) or 1.0
    end = tuple(np.asarray(start) + d * distance)
    if not (reachable(start) and reachable(end)):
        return MotionResult("push", False, end, arm.state().ee_position, "unreachable")
    yaw = float(np.arctan2(d[1], d[0]))
    _gripper(cell, 0.0, 0.2)
    arm.move_line((start[0], start[1], start[2] + m.approach_height), yaw, cell.step)
    arm.move_line(tuple(start), yaw, cell.step)
    arm.move_line(end, yaw, cell.step)
    achieved = arm.state().ee_position
    arm.move_line((end[0], end[1], end[2] + m.approach_height), yaw, cell.step)
    return MotionResult("push", True, end, achieved)


def go_home(cell: RobotCell) -> MotionResult:
    """Move the open gripper up to the home pose, out of the camera's way."""
    cur = cell.arm.state().ee_position
    cell.arm.move_line((cur[0], cur[1], HOME_EE[2]), 0.0, cell.step)
    err = cell.arm.move_line(HOME_EE, 0.0, cell.step)
    return MotionResult("home", err < 0.01, HOME_EE, cell.arm.state().ee_position, "" if err < 0.01 else "not_reached")


@dataclass(frozen=True)
class Pick:
    block: str


@dataclass(frozen=True)
class Place:
    block: str
    target: Vec3
    release_height: float = 0.0


@dataclass(frozen=True)
class Push:
    start: Vec3
    direction: Vec3
    distance: float


Command = Pick | Place | Push


def execute(cell: RobotCell, commands: list[Command]) -> list[MotionResult]:
    """Run commands in order, then go home. Stops after the first failed command (a failed pick
    makes the following place meaningless); the failure is in the returned list."""
    results: list[MotionResult] = []
    for cmd in commands:
        if isinstance(cmd, Pick):
            r = pick(cell, cmd.block)
        elif isinstance(cmd, Place):
            r = place(cell, cmd.block, cmd.target, cmd.release_height)
        elif isinstance(cmd, Push):
            r = push(cell, cmd.start, cmd.direction, cmd.distance)
        else:
            raise TypeError(f"not a motion command: {cmd!r}")
        results.append(r)
        if not r.ok:
            cell.arm.set_gripper(FINGER_OPEN)
            break
    results.append(go_home(cell))
    return results
