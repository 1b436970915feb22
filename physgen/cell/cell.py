"""The robot cell: one PyBullet client owning a table, a Panda, blocks and cameras.

Several cells live in one process without interfering: each has its own PyBullet client.
A scene is built from a :class:`SceneSpec` after a full reset, so an episode's outcome never
depends on what the cell ran before (the same seed gives the same image bytes and outcome).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import warnings
from dataclasses import dataclass

import numpy as np

from physgen.cell.quiet import c_output_silenced

with c_output_silenced():
    import pybullet

from physgen.cell.arm import FINGER_JOINTS, HAND_LINK, PandaArm
from physgen.cell.camera import Camera, orbit_eye
from physgen.cell.client import connect
from physgen.cell.config import CameraConfig, CellConfig
from physgen.cell.scene import COLOURS, Appearance, BlockSpec, SceneSpec
from physgen.resources import sim_path

Vec3 = tuple[float, float, float]
_DEFAULT_APPEARANCE = Appearance()
_EGL_OWNER: int | None = None  # id of the cell holding this process's EGL context


@dataclass(frozen=True)
class BlockPose:
    position: Vec3
    orientation: tuple[float, float, float, float]


@dataclass(frozen=True)
class SettleResult:
    """Outcome of letting the physics run: per-block displacement (m) and tilt (deg) since the start."""

    stood: bool
    at_rest: bool
    time: float
    displacements: dict[str, float]
    tilts_deg: dict[str, float]
    final_positions: dict[str, Vec3]

    def to_dict(self) -> dict:
        return {
            "stood": self.stood,
            "at_rest": self.at_rest,
            "time": round(self.time, 4),
            "displacements": {k: round(v, 5) for k, v in self.displacements.items()},
            "tilts_deg": {k: round(v, 3) for k, v in self.tilts_deg.items()},
        }


@dataclass(frozen=True)
class Snapshot:
    """A saved cell state: PyBullet's in-memory state plus which blocks are pinned."""

    state_id: int
    pinned: frozenset[str]
    finger_target: float
    sim_time: float


def _tilt_deg(q0, q1) -> float:
    """Angle between the body z axes of two orientations."""
    m0 = np.asarray(pybullet.getMatrixFromQuaternion(q0)).reshape(3, 3)
    m1 = np.asarray(pybullet.getMatrixFromQuaternion(q1)).reshape(3, 3)
    c = float(np.clip(np.dot(m0[:, 2], m1[:, 2]), -1.0, 1.0))
    return math.degrees(math.acos(c))


def _norm(v) -> float:
    """``np.linalg.norm`` of a 3-vector, to the bit (the same dot product), at half its cost."""
    x = np.array(v, dtype=float)
    return math.sqrt(x.dot(x))


class RobotCell:
    """A Franka Panda at a table with blocks. See :mod:`physgen.motion.planner` for motions."""

    def __init__(self, config: CellConfig | None = None):
        self.config = config or CellConfig()
        self.client = connect(pybullet.GUI if self.config.gui else pybullet.DIRECT)
        self.renderer_name = "tiny"
        self._renderer_flag = pybullet.ER_TINY_RENDERER
        self._egl_plugin = None
        if self.config.renderer == "egl":
            self._load_egl()
        self.scene: SceneSpec | None = None
        self.blocks: dict[str, int] = {}
        self._pins: dict[str, int] = {}
        self._textures: dict[str, int] = {}
        self.visual = True  # the world has visual meshes: it can be drawn
        self.sim_time = 0.0
        self._last_frame: tuple[tuple, np.ndarray] | None = None
        self._reset_world()

    # --- lifecycle -------------------------------------------------------------------------------
    def _load_egl(self) -> None:
        """Load the EGL renderer plugin before any body; if it does not load, stay on TinyRenderer.

        Only one EGL cell per process: a second EGL context makes the first draw the other's shapes
        (a known plugin limitation), so further cells fall back to TinyRenderer, with a warning.
        """
        global _EGL_OWNER
        if _EGL_OWNER is not None:
            warnings.warn("the EGL renderer serves one cell per process; this cell uses TinyRenderer", stacklevel=3)
            return
        try:
            spec = importlib.util.find_spec("eglRenderer")
            with c_output_silenced():
                plugin = self.client.loadPlugin(spec.origin, "_eglRendererPlugin") if spec and spec.origin else -1
        except Exception:  # noqa: BLE001 - any failure means: no EGL here
            plugin = -1
        if plugin >= 0:
            _EGL_OWNER = id(self)
            self._egl_plugin = plugin
            self.renderer_name = "egl"
            self._renderer_flag = pybullet.ER_BULLET_HARDWARE_OPENGL

    def _reset_world(self, appearance: Appearance = _DEFAULT_APPEARANCE, visual: bool = True) -> None:
        c, p = self.client, self.config.physics
        c.resetSimulation()
        c.setPhysicsEngineParameter(
            fixedTimeStep=p.timestep, numSolverIterations=p.solver_iterations,
            deterministicOverlappingPairs=1,
        )
        c.setGravity(0, 0, -9.81)
        if self.config.gui:
            c.configureDebugVisualizer(c.COV_ENABLE_GUI, 0)
        self._textures = {}
        self.visual = visual
        self.table = c.loadURDF(str(sim_path("urdf", "table.urdf")), (0.45, 0.0, 0.0), useFixedBase=True)
        if visual:
            # Texture the table before loading the arm: the EGL plugin ignores textures loaded after the Panda's.
            texture = self._texture(appearance.table_texture)
            c.changeVisualShape(self.table, -1, rgbaColor=appearance.table_colour, textureUniqueId=texture)
        self.arm = PandaArm(c, p, self.config.motion, visual) if self.config.arm else None
        self.scene_camera = Camera(c, self.config.scene_camera, self._renderer_flag)
        w, h = self.config.wrist_resolution
        self.wrist_camera = (
            Camera(c, CameraConfig(width=w, height=h, fov_deg=70.0, near=0.01), self._renderer_flag)
            if self.config.wrist_camera else None
        )
        self.blocks, self._pins, self.sim_time = {}, {}, 0.0

    def close(self) -> None:
        global _EGL_OWNER
        if id(self) == _EGL_OWNER:
            _EGL_OWNER = None
        with contextlib.suppress(pybullet.error):
            self.client.disconnect()

    def __enter__(self) -> RobotCell:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- scene -----------------------------------------------------------------------------------
    def load(self, scene: SceneSpec, visual: bool = True) -> None:
        """Reset everything and build ``scene``: blocks at their poses, held blocks pinned.

        Every scene gets a new world. A saved state (:meth:`save`) would be cheaper, but it leaves
        out the broadphase, whose history changes the order in which the solver takes constraints:
        an episode on a restored world parts from one on a new world at the 7th digit (measured).
        ``visual`` false builds the arm without its visual meshes, most of the cost of a world
        (about 10 ms instead of 60): the physics is the same to the bit, but nothing can be drawn
        (:meth:`render` raises) until the next visual ``load``."""
        self._reset_world(scene.appearance, visual)
        self.scene = scene
        a = scene.appearance
        for m in scene.markers:
            half = [s / 2 for s in m.size]
            vis = self.client.createVisualShape(self.client.GEOM_BOX, halfExtents=half, rgbaColor=COLOURS[m.colour])
            self.client.createMultiBody(0, -1, vis, m.position)
        for spec in scene.blocks:
            self.blocks[spec.name] = self._spawn(spec)
            if spec.held:
                self.pin(spec.name)
        cam = self.config.scene_camera
        eye = orbit_eye(cam.eye, scene.focus, a.camera_azimuth_deg, a.camera_elevation_offset)
        self.scene_camera.look(eye, scene.focus, cam.up)

    def _texture(self, name: str) -> int:
        if name == "plain":
            return -1
        if name not in self._textures:
            path = sim_path("textures", f"{name}.png")
            if not path.is_file():
                raise FileNotFoundError(f"table texture {name!r}: no file {path}")
            self._textures[name] = self.client.loadTexture(str(path))
        return self._textures[name]

    def _spawn(self, spec: BlockSpec) -> int:
        c = self.client
        half = [s / 2 for s in spec.size]
        col = c.createCollisionShape(c.GEOM_BOX, halfExtents=half)
        vis = c.createVisualShape(c.GEOM_BOX, halfExtents=half, rgbaColor=COLOURS[spec.colour])
        orn = c.getQuaternionFromEuler((0.0, 0.0, spec.yaw))
        body = c.createMultiBody(spec.mass, col, vis, spec.position, orn)
        c.changeDynamics(body, -1, lateralFriction=spec.friction, spinningFriction=0.001, rollingFriction=0.0001,
                         restitution=0.0)
        return body

    def pin(self, name: str) -> None:
        """Hold a block fixed in the world where it is."""
        if name in self._pins:
            return
        pos, orn = self.client.getBasePositionAndOrientation(self.blocks[name])
        cid = self.client.createConstraint(self.blocks[name], -1, -1, -1, self.client.JOINT_FIXED, (0, 0, 0),
                                           (0, 0, 0), pos, childFrameOrientation=orn)
        self.client.changeConstraint(cid, maxForce=1000.0)
        self._pins[name] = cid

    def unpin(self, name: str) -> None:
        cid = self._pins.pop(name, None)
        if cid is not None:
            self.client.removeConstraint(cid)

    def release(self) -> None:
        """Let go of every pinned block."""
        for name in list(self._pins):
            self.unpin(name)

    def hand_over(self) -> None:
        """Unpin every pinned block both fingers touch: the gripper holds it now."""
        if self.arm is None:
            return
        for name in list(self._pins):
            body = self.blocks[name]
            if all(self.client.getContactPoints(self.arm.body, body, link, -1) for link in FINGER_JOINTS):
                self.unpin(name)

    @property
    def pinned(self) -> frozenset[str]:
        return frozenset(self._pins)

    def block_pose(self, name: str) -> BlockPose:
        pos, orn = self.client.getBasePositionAndOrientation(self.blocks[name])
        return BlockPose(tuple(pos), tuple(orn))

    def teleport(self, name: str, position: Vec3, yaw: float = 0.0) -> None:
        """Put a block at a pose with zero velocity (the physics-only shortcut the oracle uses)."""
        body = self.blocks[name]
        self.client.resetBasePositionAndOrientation(body, position, self.client.getQuaternionFromEuler((0, 0, yaw)))
        self.client.resetBaseVelocity(body, (0, 0, 0), (0, 0, 0))
        if name in self._pins:
            self.unpin(name)
            self.pin(name)

    # --- time ------------------------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.client.stepSimulation()
        self.sim_time += n * self.config.physics.timestep

    def settle(self, names: list[str] | None = None, stop_on_fall: bool = False,
               reference: dict[str, Vec3] | None = None) -> SettleResult:
        """Run the physics until every block rests or the time limit (pinned blocks stay pinned).

        ``stood`` is true when every block in ``names`` (default: all) ends within
        ``fall_displacement`` of its reference position and tilted no more than ``fall_tilt_deg``
        from upright. References default to the positions when the call began; pass the intended
        poses (the scene's, with an action's targets) so that a block that fell during the action
        itself is not counted as standing. ``stop_on_fall`` ends as soon as one block has fallen.
        Final positions are reported for every block.
        """
        p = self.config.physics
        names = list(self.blocks) if names is None else list(names)
        upright = (0.0, 0.0, 0.0, 1.0)
        start = {n: BlockPose(tuple(reference[n]), upright) if reference and n in reference else self.block_pose(n)
                 for n in names}
        limit = int(round(p.settle_time_limit / p.timestep))
        quiet, steps = 0, 0
        while steps < limit:
            self.step()
            steps += 1
            quiet = 0 if self._moving(p.rest_speed) else quiet + 1
            if quiet >= p.rest_steps or (stop_on_fall and steps % 8 == 0 and self._fallen(names, start)):
                break
        disp, tilt = {}, {}
        for n in names:
            now = self.block_pose(n)
            disp[n] = _norm(np.subtract(now.position, start[n].position))
            tilt[n] = _tilt_deg(start[n].orientation, now.orientation)
        final = {n: self.block_pose(n).position for n in self.blocks}
        stood = all(disp[n] <= p.fall_displacement and tilt[n] <= p.fall_tilt_deg for n in names)
        return SettleResult(stood, quiet >= p.rest_steps, steps * p.timestep, disp, tilt, final)

    def _moving(self, speed: float) -> bool:
        """Is a block faster than ``speed`` m/s, or turning faster than 20 x ``speed`` rad/s?"""
        velocity = self.client.getBaseVelocity
        for body in self.blocks.values():
            lin, ang = velocity(body)
            if _norm(lin) > speed or _norm(ang) > speed * 20:
                return True
        return False

    def _fallen(self, names: list[str], start: dict[str, BlockPose]) -> bool:
        p = self.config.physics
        for n in names:
            now = self.block_pose(n)
            if (_norm(np.subtract(now.position, start[n].position)) > p.fall_displacement
                    or _tilt_deg(start[n].orientation, now.orientation) > p.fall_tilt_deg):
                return True
        return False

    # --- state -----------------------------------------------------------------------------------
    def save(self) -> Snapshot:
        finger = self.arm.finger_target if self.arm is not None else 0.0
        # Compute the contacts first so the state holds them: restoreState keeps whatever contact
        # cache the world has when it holds none, and the run after a restore would then depend
        # on what ran before it (a known Bullet save/restore pitfall).
        self.client.performCollisionDetection()
        return Snapshot(self.client.saveState(), self.pinned, finger, self.sim_time)

    def restore(self, snap: Snapshot) -> None:
        """Return to a saved state exactly: bodies, velocities, pins, gripper command, clock."""
        self.release()
        self.client.restoreState(stateId=snap.state_id)
        if self.arm is not None:
            self.arm.finger_target = snap.finger_target
            self.arm.hold(self.arm.joint_positions()[:7])
        for name in sorted(snap.pinned):
            self.pin(name)
        self.sim_time = snap.sim_time

    # --- sensing ---------------------------------------------------------------------------------
    def render(self, reuse: bool = True) -> np.ndarray:
        """The scene camera's RGB frame: exactly the image a model sees.

        A scene that has not moved since the last frame is not drawn again: the renderer is
        deterministic, so the last frame is that image (a copy of it is returned). The key is the
        scene's spec (the same spec built again, as when several policies take turns on one scene,
        draws the same image), the camera and the pose of every body and joint, read from the
        physics. ``reuse`` false draws every frame (a benchmark timing the renderer)."""
        self._check_visual()
        cam = self.scene_camera
        key = (self.scene, cam.eye, cam.target, cam.up, self._visible_state())
        if not reuse or self._last_frame is None or self._last_frame[0] != key:
            rgb = self.scene_camera.render(self.scene.appearance if self.scene else _DEFAULT_APPEARANCE)
            self._last_frame = (key, rgb)
        return self._last_frame[1].copy()

    def _visible_state(self) -> tuple:
        c = self.client
        poses = tuple(c.getBasePositionAndOrientation(c.getBodyUniqueId(i)) for i in range(c.getNumBodies()))
        joints = () if self.arm is None else tuple(
            s[0] for s in c.getJointStates(self.arm.body, range(c.getNumJoints(self.arm.body))))
        return poses, joints

    def _check_visual(self) -> None:
        if not self.visual:
            raise RuntimeError("this scene was built without visual meshes (load(..., visual=False)): "
                               "load it with visual=True to draw it")

    def render_wrist(self) -> np.ndarray:
        self._check_visual()
        if self.wrist_camera is None:
            raise RuntimeError("the wrist camera is off (CellConfig.wrist_camera = false)")
        if self.arm is None:
            raise RuntimeError("the wrist camera needs the arm (CellConfig.arm = false here)")
        ls = self.client.getLinkState(self.arm.body, HAND_LINK, computeForwardKinematics=True)
        m = np.asarray(self.client.getMatrixFromQuaternion(ls[5])).reshape(3, 3)
        eye = np.asarray(ls[4]) + m[:, 2] * 0.02
        self.wrist_camera.look(tuple(eye), tuple(eye + m[:, 2]), tuple(m[:, 0]))
        return self.wrist_camera.render(self.scene.appearance if self.scene else _DEFAULT_APPEARANCE)

    def physics_record(self) -> dict:
        """The settings that decide results; stored with every result."""
        p = self.config.physics
        return {
            "engine": "pybullet",
            "pybullet_api_version": pybullet.getAPIVersion(),
            "timestep": p.timestep,
            "solver_iterations": p.solver_iterations,
            "renderer": self.renderer_name,
            "settle_time_limit": p.settle_time_limit,
            "fall_displacement": p.fall_displacement,
            "fall_tilt_deg": p.fall_tilt_deg,
        }

