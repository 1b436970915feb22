"""The Franka Panda from pybullet_data: joint control, IK, and the coupled two-finger gripper."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pybullet_data

from physgen.cell.quiet import c_output_silenced

with c_output_silenced():
    import pybullet

from physgen.cell.config import MotionConfig, PhysicsConfig

Vec3 = tuple[float, float, float]

ARM_JOINTS = tuple(range(7))
FINGER_JOINTS = (9, 10)
EE_LINK = 11  # panda_grasptarget, between the fingertips
HAND_LINK = 8
ARM_FORCES = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)
ARM_GAINS = (0.1,) * 7  # position gains of the arm joints' motors
FINGER_OPEN = 0.04
HOME_EE: Vec3 = (0.3, 0.0, 0.45)
REST_POSE = (0.0, -0.3, 0.0, -2.2, 0.0, 2.0, 0.785)


def down(yaw: float) -> tuple[float, float, float, float]:
    """The gripper pointing down; the fingers close along the world axis at ``yaw`` + 90 degrees."""
    return tuple(pybullet.getQuaternionFromEuler((math.pi, 0.0, yaw)))


@dataclass
class ArmState:
    """Measured end-effector pose and finger opening."""

    ee_position: Vec3
    ee_orientation: tuple[float, float, float, float]
    finger_gap: float


class PandaArm:
    """Position-controlled Panda; :mod:`physgen.motion.planner` plans its moves."""

    def __init__(self, client, physics: PhysicsConfig, motion: MotionConfig, visual: bool = True,
                 base: Vec3 = (0.0, 0.0, 0.0)):
        """``visual`` false loads no visual meshes (most of the loading time): same physics, not drawable."""
        self._c = client
        self._physics = physics
        self.motion = motion
        client.setAdditionalSearchPath(pybullet_data.getDataPath())
        flags = 0 if visual else pybullet.URDF_IGNORE_VISUAL_SHAPES
        self.body = client.loadURDF("franka_panda/panda.urdf", base, useFixedBase=True, flags=flags)
        self.joint_names = [client.getJointInfo(self.body, j)[1].decode() for j in ARM_JOINTS + FINGER_JOINTS]
        info = [client.getJointInfo(self.body, j) for j in ARM_JOINTS]
        self._lower = [i[8] for i in info]
        self._upper = [i[9] for i in info]
        self._ranges = [u - lo for lo, u in zip(self._lower, self._upper)]
        self._hold_targets = list(REST_POSE)
        gear = client.createConstraint(
            self.body, FINGER_JOINTS[0], self.body, FINGER_JOINTS[1],
            jointType=client.JOINT_GEAR, jointAxis=(1, 0, 0),
            parentFramePosition=(0, 0, 0), childFramePosition=(0, 0, 0),
        )
        client.changeConstraint(gear, gearRatio=-1, erp=0.1, maxForce=50)
        for j in FINGER_JOINTS:
            client.changeDynamics(self.body, j, lateralFriction=1.2, spinningFriction=0.002, frictionAnchor=1)
        self.finger_target = FINGER_OPEN
        self._grip = (motion.grip_force,) * len(FINGER_JOINTS)
        self.reset_home()

    @property
    def lower_limits(self) -> list[float]:
        return list(self._lower)

    @property
    def upper_limits(self) -> list[float]:
        return list(self._upper)

    def hold_targets(self) -> list[float]:
        """The arm joints' current position-control targets."""
        return list(self._hold_targets)

    # --- state -------------------------------------------------------------------------------
    def joint_positions(self) -> list[float]:
        return [s[0] for s in self._c.getJointStates(self.body, ARM_JOINTS + FINGER_JOINTS)]

    def joint_velocities(self) -> list[float]:
        return [s[1] for s in self._c.getJointStates(self.body, ARM_JOINTS + FINGER_JOINTS)]

    def state(self) -> ArmState:
        ls = self._c.getLinkState(self.body, EE_LINK, computeForwardKinematics=True)
        f = self._c.getJointStates(self.body, FINGER_JOINTS)
        return ArmState(tuple(ls[4]), tuple(ls[5]), f[0][0] + f[1][0])

    def reset_home(self) -> None:
        """Teleport to the home pose (gripper open, pointing down above the table); no physics."""
        for j, q in zip(ARM_JOINTS, REST_POSE):
            self._c.resetJointState(self.body, j, q)
        q = self.ik(HOME_EE, down(0.0))
        for j, qj in zip(ARM_JOINTS, q):
            self._c.resetJointState(self.body, j, qj)
        for j in FINGER_JOINTS:
            self._c.resetJointState(self.body, j, FINGER_OPEN)
        self.finger_target = FINGER_OPEN
        self.hold(list(q))

    # --- control -------------------------------------------------------------------------------
    def ik(self, position: Vec3, orientation) -> list[float]:
        q = self._c.calculateInverseKinematics(
            self.body, EE_LINK, position, orientation,
            lowerLimits=self._lower, upperLimits=self._upper, jointRanges=self._ranges,
            restPoses=list(REST_POSE), maxNumIterations=200, residualThreshold=1e-6,
        )
        return list(q[:7])

    def hold(self, q: list[float]) -> None:
        """Command arm joints ``q`` and the fingers to their current target."""
        self.command([float(v) for v in q], self.finger_target)

    def command(self, q: list[float], opening: float) -> None:
        """One control period's command: arm joint targets ``q`` (floats) and each finger to ``opening``
        metres (within 0..FINGER_OPEN)."""
        self._hold_targets, self.finger_target = q, opening
        c = self._c
        c.setJointMotorControlArray(self.body, ARM_JOINTS, c.POSITION_CONTROL, targetPositions=q, forces=ARM_FORCES,
                                    positionGains=ARM_GAINS)
        c.setJointMotorControlArray(self.body, FINGER_JOINTS, c.POSITION_CONTROL, targetPositions=(opening, opening),
                                    forces=self._grip)

    def set_gripper(self, opening: float) -> None:
        """Command each finger to ``opening`` metres (0 = closed, 0.04 = open)."""
        self.finger_target = float(np.clip(opening, 0.0, FINGER_OPEN))
        self._c.setJointMotorControlArray(
            self.body, FINGER_JOINTS, self._c.POSITION_CONTROL, targetPositions=[self.finger_target] * 2,
            forces=[self.motion.grip_force] * 2,
        )
