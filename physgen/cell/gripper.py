"""How the executor drives a real gripper, ROS-free: the interface and the map between physgen's
finger opening (m per finger, 0 closed, ``finger_open`` open) and the gripper's own joint.

Three interfaces, as ros2_control setups expose them:

- ``trajectory``: a JointTrajectoryController over the finger joints (the simulated cell, grippers
  whose fingers are joints of their own); the finger opening is sent as it is.
- ``gripper_command``: a ``control_msgs/action/GripperCommand`` server (ros2_controllers'
  GripperActionController, e.g. a Robotiq 2F-85's ``robotiq_gripper_controller/gripper_cmd``;
  franka_ros2's ``franka_gripper/gripper_action``); the goal's ``command.position`` is ``joint``'s
  position for the opening, and ``command.max_effort`` is ``max_effort``.
- ``parallel_gripper_command``: a ``control_msgs/action/ParallelGripperCommand`` server
  (ros2_controllers' ParallelGripperActionController); the goal's ``command`` is a JointState of
  ``joint`` at that position, with ``max_effort`` as its effort.

``joint`` moves linearly from ``closed_position`` (fingers closed) to ``open_position`` (fingers at
``finger_open``). Its measured position (``joint_states``) is read back as the finger opening, which
the grasp check uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from physgen.config import in_range, one_of, require

INTERFACES = ("trajectory", "gripper_command", "parallel_gripper_command")


@dataclass(frozen=True)
class GripperConfig:
    """Parameters ``gripper.*`` of the executor node."""

    interface: str = "trajectory"
    action: str = "gripper_controller/gripper_cmd"  # the action server (the action interfaces)
    joint: str = ""  # the gripper's joint, as joint_states name it (the action interfaces)
    open_position: float = 0.04  # the joint's position with the fingers open (finger_open)
    closed_position: float = 0.0  # and closed
    max_effort: float = 40.0  # N, the force the gripper may close with (0: the gripper's own limit)

    def __post_init__(self) -> None:
        one_of("interface", self.interface, INTERFACES)
        if self.interface != "trajectory":
            require(bool(self.action), "action", self.action, f"the gripper's action name (interface {self.interface})")
            require(bool(self.joint), "joint", self.joint,
                    f"the gripper's joint as joint_states name it (interface {self.interface})")
        require(self.open_position != self.closed_position, "open_position", self.open_position,
                f"a position other than closed_position ({self.closed_position})")
        in_range("max_effort", self.max_effort, 0.0, 10_000.0)

    @property
    def by_action(self) -> bool:
        return self.interface != "trajectory"

    def position(self, opening: float, finger_open: float) -> float:
        """The joint position for a finger ``opening`` (m per finger)."""
        return self.closed_position + (self.open_position - self.closed_position) * opening / finger_open

    def opening(self, position: float, finger_open: float) -> float:
        """The finger opening (m per finger) the joint at ``position`` gives: the inverse of :meth:`position`."""
        return (position - self.closed_position) / (self.open_position - self.closed_position) * finger_open
