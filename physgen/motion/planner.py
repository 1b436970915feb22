"""The planner: pick, place, push, home, planned as joint trajectories and run on hardware.

The :class:`Planner` takes tool poses (:mod:`physgen.motion.commands`), plans each straight move
with :class:`~physgen.motion.kinematics.Kinematics` from the measured joints and sends it to a
:class:`~physgen.motion.hardware.Hardware`: the simulated cell in-process, or the arm and gripper
controllers over ROS (the executor node). One planner, so both paths move the arm identically.

Primitives never raise on a physical failure (an empty grasp, an unreachable pose, a rejected
trajectory): they return a result with ``ok = False`` and a ``reason``; the physics then decides
the task outcome.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from physgen.cell.arm import HOME_EE as HOME
from physgen.cell.arm import down
from physgen.cell.cell import RobotCell
from physgen.cell.config import MotionConfig, SafetyConfig
from physgen.motion.commands import Command, Motion, PickAt, PlaceAt, PushAlong, Vec3, motion_dict, resolve
from physgen.motion.hardware import CellHardware, Hardware
from physgen.motion.kinematics import ArmModel, Kinematics
from physgen.motion.safety import Limits, Screened, retime, screen
from physgen.motion.trajectory import Trajectory, on_the_wire

REACH = ((0.25, 0.8), (-0.45, 0.45), (0.0, 0.6))  # x, y, z bounds of targets the primitives accept
GRASPED_GAP = 0.005  # m between the fingers; less means they closed on nothing
HEADROOM = 0.95  # plans keep to this fraction of the safety limits, so the screen passes them unchanged


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


class _Failed(Exception):
    def __init__(self, reason: str):
        self.reason = reason


class Planner:
    """Plans primitives into trajectories and runs them on a :class:`Hardware`.

    ``period`` is the control period (s) between line waypoints. A straight move is followed by up
    to ``motion.corrections`` closed-loop corrections (IK from the measured joints) until the tool
    is within ``motion.position_tolerance``.
    """

    def __init__(self, kinematics: Kinematics, motion: MotionConfig, period: float,
                 safety: SafetyConfig | None = None):
        self.kin, self.motion, self.period = kinematics, motion, period
        self.model = kinematics.model
        self.limits = Limits.of(kinematics, safety or SafetyConfig())
        self.screened = {"passed": 0, "clamped": 0, "rejected": 0}
        self.last_screen: Screened | None = None  # the latest trajectory's verdict, for logs

    # --- measured state ---
    def _q(self, hw: Hardware) -> tuple[float, ...]:
        j = hw.joints()
        return tuple(j[n] for n in self.model.arm_joints)

    def tool(self, hw: Hardware) -> Vec3:
        return self.kin.fk(self._q(hw))[0]

    def facing(self, hw: Hardware, yaw: float) -> float:
        """The grasp yaw equivalent to ``yaw`` (the two fingers are alike: ``yaw`` + 180 degrees grasps
        the same) nearest the tool's yaw now, so the wrist turns at most 90 degrees."""
        return yaw + np.pi * round((self.kin.yaw(self._q(hw)) - yaw) / np.pi)

    def finger_gap(self, hw: Hardware) -> float:
        j = hw.joints()
        return float(sum(j[n] for n in self.model.finger_joints))

    # --- moves ---
    def _run(self, hw: Hardware, path: Trajectory) -> None:
        """Time ``path`` within the safety limits from the measured joints (no sooner than its own
        times), screen it, then run it."""
        start = hw.joints()
        traj = retime(path, start, self.limits, HEADROOM)
        got = screen(traj, start, self.limits, lambda q: self.kin.fk(q)[0], self.model.arm_joints)
        self.last_screen = got
        self.screened["rejected" if got.rejected else "clamped" if got.changed else "passed"] += 1
        if got.rejected:
            raise _Failed(f"safety:{got.reasons[-1]}")
        reason = hw.run(got.trajectory)
        if reason:
            raise _Failed(reason)

    def move(self, hw: Hardware, goal: Vec3, yaw: float) -> float:
        """Straight line to ``goal``; returns the final position error (m)."""
        m = self.motion
        self._run(hw, self.kin.line(self._q(hw), goal, yaw, m.speed, self.period))
        for _ in range(m.corrections):
            q = self._q(hw)
            err = float(np.linalg.norm(np.subtract(self.kin.fk(q)[0], goal)))
            if err <= m.position_tolerance:
                return err
            fix = self.kin.ik(q, goal, down(yaw))
            self._run(hw, Trajectory(self.model.arm_joints, (on_the_wire(self.period),), (fix,)))
        return float(np.linalg.norm(np.subtract(self.tool(hw), goal)))

    def gripper(self, hw: Hardware, opening: float, seconds: float) -> None:
        self._run(hw, self.kin.gripper(opening, seconds))

    # --- primitives ---
    def pick(self, hw: Hardware, cmd: PickAt) -> MotionResult:
        pos, up = cmd.position, self.motion.approach_height
        if not reachable(pos):
            return MotionResult("pick", False, pos, self.tool(hw), "unreachable")
        above, yaw = (pos[0], pos[1], pos[2] + up), self.facing(hw, cmd.yaw)
        self.gripper(hw, self.model.finger_open, 0.05)
        self.move(hw, above, yaw)
        self.move(hw, pos, yaw)
        self.gripper(hw, 0.0, 0.35)
        at_grasp = self.tool(hw)
        self.move(hw, above, yaw)
        gap = self.finger_gap(hw)
        held = gap > GRASPED_GAP
        return MotionResult("pick", held, pos, at_grasp, "" if held else "gripper_closed_empty",
                            {"finger_gap": round(gap, 4)})

    def place(self, hw: Hardware, cmd: PlaceAt) -> MotionResult:
        if not reachable(cmd.position):
            return MotionResult("place", False, cmd.position, self.tool(hw), "unreachable")
        goal = np.add(cmd.position, (0.0, 0.0, cmd.release_height))
        up, yaw = self.motion.approach_height, self.facing(hw, cmd.yaw)
        above = (goal[0], goal[1], max(goal[2], self.tool(hw)[2]) + up)
        self.move(hw, above, yaw)
        self.move(hw, tuple(goal), yaw)
        achieved = tuple(np.subtract(self.tool(hw), (0.0, 0.0, cmd.release_height)))
        self.gripper(hw, self.model.finger_open, 0.3)
        self.move(hw, (goal[0], goal[1], goal[2] + up), yaw)
        return MotionResult("place", True, cmd.position, achieved)

    def push(self, hw: Hardware, cmd: PushAlong) -> MotionResult:
        d = np.asarray(cmd.direction, dtype=float)
        d[2] = 0.0
        d /= np.linalg.norm(d) or 1.0
        start, end = cmd.start, tuple(np.asarray(cmd.start) + d * cmd.distance)
        if not (reachable(start) and reachable(end)):
            return MotionResult("push", False, end, self.tool(hw), "unreachable")
        yaw, up = self.facing(hw, float(np.arctan2(d[1], d[0]))), self.motion.approach_height
        self.gripper(hw, 0.0, 0.2)
        self.move(hw, (start[0], start[1], start[2] + up), yaw)
        self.move(hw, start, yaw)
        self.move(hw, end, yaw)
        achieved = self.tool(hw)
        self.move(hw, (end[0], end[1], end[2] + up), yaw)
        return MotionResult("push", True, end, achieved)

    def home(self, hw: Hardware) -> MotionResult:
        """The open gripper up and to the home pose, out of the camera's way."""
        cur = self.tool(hw)
        self.move(hw, (cur[0], cur[1], HOME[2]), 0.0)
        err = self.move(hw, HOME, 0.0)
        ok = err < 0.01
        return MotionResult("home", ok, HOME, self.tool(hw), "" if ok else "not_reached")

    def execute(self, hw: Hardware, motions: list[Motion]) -> list[MotionResult]:
        """Run motions in order, then go home. Stops after the first failed one (a failed pick makes
        the following place meaningless) and opens the gripper; the failure is in the list."""
        results: list[MotionResult] = []
        run = {PickAt: self.pick, PlaceAt: self.place, PushAlong: self.push}
        for m in motions:
            if type(m) not in run:
                raise TypeError(f"not a motion: {m!r}")
            try:
                r = run[type(m)](hw, m)
            except _Failed as e:
                r = MotionResult(motion_dict(m)["type"], False, _target(m), self.tool(hw), e.reason)
            results.append(r)
            if not r.ok:
                break
        try:
            if results and not results[-1].ok:
                self.gripper(hw, self.model.finger_open, 0.05)
            results.append(self.home(hw))
        except _Failed as e:
            results.append(MotionResult("home", False, HOME, self.tool(hw), e.reason))
        return results


def _target(m: Motion) -> Vec3:
    return m.start if isinstance(m, PushAlong) else m.position


PANDA = ArmModel()


@functools.lru_cache(maxsize=4)
def kinematics(model: ArmModel | None = None) -> Kinematics:
    """One planner per arm model per process (loading the URDF costs ~0.1 s)."""
    return Kinematics(model or PANDA)


def cell_planner(cell: RobotCell) -> Planner:
    c = cell.config
    return Planner(kinematics(), c.motion, c.physics.timestep * c.motion.control_period_steps, c.safety)


def execute(cell: RobotCell, commands: list[Command]) -> list[MotionResult]:
    """Run block-level commands on the cell's arm in-process, then go home."""
    return cell_planner(cell).execute(CellHardware(cell), resolve(commands, cell.scene))
