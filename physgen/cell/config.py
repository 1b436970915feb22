"""Configuration of the robot cell: physics, cameras, arm motion. Validated once, at construction."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from physgen.config import in_range, one_of, require

Vec3 = tuple[float, float, float]
SAFETY_MODES = ("reject", "clamp")


@dataclass(frozen=True)
class PhysicsConfig:
    """Simulation settings; recorded with every result."""

    timestep: float = 1.0 / 240.0
    solver_iterations: int = 100
    settle_time_limit: float = 3.0  # seconds of simulated time
    rest_speed: float = 0.003  # m/s; below this a block counts as at rest
    rest_steps: int = 24  # consecutive steps at rest that end settling
    fall_displacement: float = 0.01  # m; a block displaced further has fallen
    fall_tilt_deg: float = 10.0

    def __post_init__(self) -> None:
        in_range("timestep", self.timestep, 1e-4, 0.05)
        in_range("solver_iterations", self.solver_iterations, 1, 10000)
        in_range("settle_time_limit", self.settle_time_limit, 0.05, 60.0)
        in_range("rest_speed", self.rest_speed, 1e-6, 1.0)
        in_range("rest_steps", self.rest_steps, 1, 100000)
        in_range("fall_displacement", self.fall_displacement, 1e-4, 1.0)
        in_range("fall_tilt_deg", self.fall_tilt_deg, 0.1, 90.0)


@dataclass(frozen=True)
class CameraConfig:
    """A pinhole camera: pose (eye looks at target), vertical field of view and resolution."""

    width: int = 224
    height: int = 224
    fov_deg: float = 45.0
    eye: Vec3 = (0.95, 0.0, 0.3)
    target: Vec3 = (0.55, 0.0, 0.1)
    up: Vec3 = (0.0, 0.0, 1.0)
    near: float = 0.05
    far: float = 3.0

    def __post_init__(self) -> None:
        in_range("width", self.width, 16, 4096)
        in_range("height", self.height, 16, 4096)
        in_range("fov_deg", self.fov_deg, 5.0, 150.0)
        in_range("near", self.near, 1e-3, 10.0)
        require(self.far > self.near, "far", self.far, f"a number greater than near={self.near}")
        require(self.eye != self.target, "eye", self.eye, "a point different from camera.target")


@dataclass(frozen=True)
class MotionConfig:
    """Arm motion settings for the primitives (see :class:`physgen.motion.planner.Planner`)."""

    speed: float = 0.5  # m/s, Cartesian
    approach_height: float = 0.08  # m above the grasp/place pose
    grip_force: float = 40.0  # N per finger
    control_period_steps: int = 4  # physics steps per IK/control update
    corrections: int = 4  # closed-loop corrections (IK from the measured joints) after a straight move
    position_tolerance: float = 0.002  # m, to count a move as reached

    def __post_init__(self) -> None:
        in_range("speed", self.speed, 0.01, 2.0)
        in_range("approach_height", self.approach_height, 0.01, 0.5)
        in_range("grip_force", self.grip_force, 1.0, 200.0)
        in_range("control_period_steps", self.control_period_steps, 1, 100)
        in_range("corrections", self.corrections, 0, 50)
        in_range("position_tolerance", self.position_tolerance, 1e-4, 0.05)


@dataclass(frozen=True)
class SafetyConfig:
    """What the planner lets through (parameters ``safety.*``; the screen is :mod:`physgen.motion.safety`)."""

    on_violation: str = "clamp"  # reject: refuse the trajectory; clamp: bring it within the limits
    workspace_min: tuple[float, float, float] = (0.15, -0.5, 0.005)  # m, tool position in the arm base frame
    workspace_max: tuple[float, float, float] = (0.85, 0.5, 0.75)
    max_step: float = 0.25  # rad (m for fingers): largest joint change between two waypoints
    velocity_scale: float = 1.0  # of the URDF velocity limits
    acceleration: tuple[float, ...] = (15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0)  # rad/s^2, arm joints in order
    finger_acceleration: float = 2.0  # m/s^2

    def __post_init__(self) -> None:
        one_of("on_violation", self.on_violation, SAFETY_MODES)
        require(len(self.workspace_min) == 3 and len(self.workspace_max) == 3, "workspace_min", self.workspace_min,
                "x, y, z (and workspace_max the same)")
        require(all(lo < hi for lo, hi in zip(self.workspace_min, self.workspace_max)), "workspace_max",
                self.workspace_max, f"above workspace_min {self.workspace_min} on every axis")
        in_range("max_step", self.max_step, 1e-4, math.pi)
        in_range("velocity_scale", self.velocity_scale, 1e-3, 1.0)
        require(all(a > 0 for a in self.acceleration), "acceleration", self.acceleration, "positive values")
        in_range("finger_acceleration", self.finger_acceleration, 1e-3, 100.0)


@dataclass(frozen=True)
class CellConfig:
    """The whole cell. ``renderer`` is ``tiny`` (CPU TinyRenderer) or ``egl`` (plugin, falls back to tiny)."""

    gui: bool = False
    arm: bool = True  # False: a physics-only cell (the oracle's sandbox)
    renderer: Literal["tiny", "egl"] = "tiny"
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)  # what the in-process executor lets through
    scene_camera: CameraConfig = field(default_factory=CameraConfig)
    wrist_camera: bool = False
    wrist_resolution: tuple[int, int] = (128, 128)

    def __post_init__(self) -> None:
        one_of("renderer", self.renderer, ("tiny", "egl"))
        for i, v in enumerate(self.wrist_resolution):
            in_range(f"wrist_resolution[{i}]", v, 16, 4096)
