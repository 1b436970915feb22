"""An arm's kinematics from its URDF, without physics: forward kinematics, IK and straight-line
Cartesian plans as joint trajectories.

The planner runs in its own physics-free PyBullet client, so it plans the same way for the
simulated cell, for the executor node and (with another URDF) for a real arm: the plan depends only
on the measured start joints and the goal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pybullet_data

from physgen.cell.quiet import c_output_silenced
from physgen.config import in_range, require

with c_output_silenced():
    import pybullet

from physgen.cell.arm import FINGER_OPEN, REST_POSE, down
from physgen.cell.client import connect
from physgen.motion.trajectory import Trajectory, on_the_wire

Vec3 = tuple[float, float, float]
TURN_STEP = 0.05  # rad: the most a planned line turns the tool between two waypoints


@dataclass(frozen=True)
class ArmModel:
    """Which URDF, which joints and which link the planner uses (defaults: the Franka Panda)."""

    urdf: str = "franka_panda/panda.urdf"  # a path, or relative to pybullet_data
    arm_joints: tuple[str, ...] = tuple(f"panda_joint{i}" for i in range(1, 8))
    finger_joints: tuple[str, ...] = ("panda_finger_joint1", "panda_finger_joint2")
    tool_link: str = "panda_grasptarget"
    rest_pose: tuple[float, ...] = REST_POSE
    finger_open: float = FINGER_OPEN  # m per finger

    def __post_init__(self) -> None:
        require(bool(self.urdf), "urdf", self.urdf, "a URDF file (absolute, or relative to pybullet_data)")
        require(len(self.arm_joints) > 0, "arm_joints", self.arm_joints, "the arm's joint names, base to tool")
        require(len(self.finger_joints) > 0, "finger_joints", self.finger_joints,
                "the gripper's joint names (a gripper whose joints are in the URDF)")
        require(len(self.rest_pose) == len(self.arm_joints), "rest_pose", self.rest_pose,
                f"one position per arm joint ({len(self.arm_joints)})")
        in_range("finger_open", self.finger_open, 1e-4, 1.0)


class Kinematics:
    """FK and IK on one arm model; every call starts from the joints it is given (no hidden state)."""

    def __init__(self, model: ArmModel):
        self.model = model
        self._c = connect()
        self._c.setAdditionalSearchPath(pybullet_data.getDataPath())
        self._body = self._c.loadURDF(model.urdf, useFixedBase=True)
        joints = {}
        links = {}
        for j in range(self._c.getNumJoints(self._body)):
            info = self._c.getJointInfo(self._body, j)
            joints[info[1].decode()] = info
            links[info[12].decode()] = j
        missing = [n for n in (*model.arm_joints, *model.finger_joints) if n not in joints]
        if missing or model.tool_link not in links:
            raise ValueError(f"{model.urdf}: no joint(s) {missing} or link {model.tool_link!r}")
        self._movable = [j for j in range(self._c.getNumJoints(self._body))
                         if self._c.getJointInfo(self._body, j)[2] != pybullet.JOINT_FIXED]
        self._arm = [joints[n][0] for n in model.arm_joints]
        self._tool = links[model.tool_link]
        self.lower = tuple(float(joints[n][8]) for n in model.arm_joints)
        self.upper = tuple(float(joints[n][9]) for n in model.arm_joints)
        every = (*model.arm_joints, *model.finger_joints)  # the URDF's limits, for the safety checks
        self.joint_lower = tuple(float(joints[n][8]) for n in every)
        self.joint_upper = tuple(float(joints[n][9]) for n in every)
        self.joint_velocity = tuple(float(joints[n][11]) for n in every)
        self._ranges = [u - lo for lo, u in zip(self.lower, self.upper)]
        self._ik_limits = {"lowerLimits": list(self.lower), "upperLimits": list(self.upper),
                           "jointRanges": self._ranges, "restPoses": list(model.rest_pose)}
        self._ik_index = [self._movable.index(j) for j in self._arm]

    def close(self) -> None:
        self._c.disconnect()

    def _set(self, q: Sequence[float]) -> None:
        self._c.resetJointStatesMultiDof(self._body, self._arm, [[float(v)] for v in q])

    def fk(self, q: Sequence[float]) -> tuple[Vec3, tuple[float, float, float, float]]:
        """Tool pose for arm joints ``q``."""
        self._set(q)
        ls = self._c.getLinkState(self._body, self._tool, computeForwardKinematics=True)
        return tuple(ls[4]), tuple(ls[5])

    def yaw(self, q: Sequence[float]) -> float:
        """The heading of the tool's x axis about world z (``yaw`` of :func:`down` for a tool pointing down)."""
        x_axis = self._c.getMatrixFromQuaternion(self.fk(q)[1])[0::3]
        return math.atan2(x_axis[1], x_axis[0])

    def ik(self, seed: Sequence[float], position: Vec3, orientation) -> tuple[float, ...]:
        """Arm joints putting the tool at the pose, solved from ``seed``, within the URDF limits."""
        self._set(seed)
        q = self._c.calculateInverseKinematics(self._body, self._tool, position, orientation, maxNumIterations=200,
                                               residualThreshold=1e-6, **self._ik_limits)
        return tuple(min(max(q[i], lo), hi) for i, lo, hi in zip(self._ik_index, self.lower, self.upper))

    def line(self, start: Sequence[float], goal: Vec3, yaw: float, speed: float, period: float) -> Trajectory:
        """A straight tool line from FK(``start``) to ``goal``, the tool turning evenly from its start
        orientation to pointing down at ``yaw`` along the way: one IK waypoint per control ``period``
        (seconds) at ``speed`` m/s, and at most ``TURN_STEP`` of turning between two. The times are
        the fastest the speed allows; the executor slows them to the joint limits (``safety.retime``)."""
        p0, o0 = (np.asarray(v) for v in self.fk(start))
        p1, o1 = np.asarray(goal, dtype=float), down(yaw)
        turn = 2 * math.acos(min(1.0, abs(float(np.dot(o0, o1)))))
        n = max(1, math.ceil(float(np.linalg.norm(p1 - p0)) / (speed * period)), math.ceil(turn / TURN_STEP))
        q, rows = tuple(start), []
        for i in range(1, n + 1):
            q = self.ik(q, tuple(p0 + (p1 - p0) * i / n), self._c.getQuaternionSlerp(o0, o1, i / n))
            rows.append(q)
        return Trajectory(self.model.arm_joints, tuple(on_the_wire(period * i) for i in range(1, n + 1)), tuple(rows))

    def gripper(self, opening: float, duration: float) -> Trajectory:
        """Both fingers to ``opening`` metres each over ``duration`` seconds."""
        o = float(np.clip(opening, 0.0, self.model.finger_open))
        return Trajectory(self.model.finger_joints, (on_the_wire(duration),), ((o,) * len(self.model.finger_joints),))
