"""The contract the planner drives: an arm with a gripper that runs joint trajectories, as ros2_controllers'
JointTrajectoryController does. :class:`CellHardware` is the simulated cell in-process; the executor
node (:mod:`physgen_nodes.executor_node`) is the same contract over ROS, for the cell or a real arm."""

from __future__ import annotations

from typing import Protocol

from physgen.cell.cell import RobotCell
from physgen.motion.trajectory import Trajectory, check, follow


class Hardware(Protocol):
    """An arm with a gripper that runs joint trajectories (the JointTrajectoryController contract)."""

    def joints(self) -> dict[str, float]:
        """The measured position of every joint, by name."""

    def run(self, traj: Trajectory) -> str:
        """Execute ``traj`` to its end; ``""`` when done, else a reason code."""


class CellHardware:
    """The simulated cell's arm, in-process."""

    def __init__(self, cell: RobotCell):
        self.cell = cell

    def joints(self) -> dict[str, float]:
        return dict(zip(self.cell.arm.joint_names, self.cell.arm.joint_positions()))

    def run(self, traj: Trajectory) -> str:
        reason = check(traj, self.cell)
        if not reason:
            follow(self.cell, traj)
        return reason
