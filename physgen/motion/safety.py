"""Safety limits on every joint trajectory the executor sends, in simulation and on a real arm.

:func:`screen` checks one :class:`~physgen.motion.trajectory.Trajectory`, from the measured joints,
against :class:`Limits` (joint positions and velocities from the URDF, accelerations and the rest
from :class:`SafetyConfig`). The arm starts and ends each trajectory at rest, and moves linearly
between waypoints (as ros2_controllers' JointTrajectoryController interpolates). In order:

1. malformed (unknown joints, wrong lengths, non-finite values, times not increasing): rejected;
2. joint positions outside the limits: rejected, or clipped into them (``clamp``);
3. the tool outside the workspace box at any waypoint (forward kinematics): rejected, in both modes
   (moving the tool elsewhere is another action, not a slower one);
4. a joint changing by more than ``max_step`` between waypoints (the measured joints count as the
   first): rejected, or the segment split into equal steps (``clamp``);
5. a joint faster than its velocity limit, or accelerating faster than its acceleration limit:
   rejected, or time stretched until it is within (``clamp``): the same path, slower.

Every violation is named in the result's ``reasons`` (``joint_limit:panda_joint4``, ``workspace``,
``step:panda_joint7``, ``velocity:panda_joint7``, ``acceleration:panda_joint1``). The planner times
its own paths with :func:`retime` (the same pass clamping uses) a little inside these limits, so its
trajectories pass unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from physgen.cell.config import SafetyConfig
from physgen.config import require
from physgen.motion.trajectory import Trajectory, malformed, on_the_wire

Vec3 = tuple[float, float, float]
TOLERANCE = 1e-6  # relative: a value this close to its limit is within it (times cross the wire in ns)


@dataclass(frozen=True)
class Limits:
    """Per joint: position range, velocity and acceleration limits; the workspace and the step."""

    lower: dict[str, float]
    upper: dict[str, float]
    velocity: dict[str, float]
    acceleration: dict[str, float]
    config: SafetyConfig = field(default_factory=SafetyConfig)

    @classmethod
    def of(cls, kinematics, config: SafetyConfig) -> Limits:
        """From the arm's URDF (:class:`~physgen.motion.kinematics.Kinematics`) and ``config``."""
        m = kinematics.model
        require(len(config.acceleration) == len(m.arm_joints), "acceleration", config.acceleration,
                f"one value per arm joint {m.arm_joints}")
        names = (*m.arm_joints, *m.finger_joints)
        acc = dict(zip(m.arm_joints, config.acceleration)) | dict.fromkeys(m.finger_joints, config.finger_acceleration)
        return cls(lower=dict(zip(names, kinematics.joint_lower)), upper=dict(zip(names, kinematics.joint_upper)),
                   velocity={n: v * config.velocity_scale for n, v in zip(names, kinematics.joint_velocity)},
                   acceleration=acc, config=config)


@dataclass(frozen=True)
class Screened:
    """``trajectory`` to send (None: rejected); ``reasons`` every violation found; ``changed`` when
    clamping altered it."""

    trajectory: Trajectory | None
    reasons: tuple[str, ...]
    changed: bool = False

    @property
    def rejected(self) -> bool:
        return self.trajectory is None


def screen(traj: Trajectory, start: dict[str, float], limits: Limits,
           tool: Callable[[Sequence[float]], Vec3] | None = None, arm_joints: Sequence[str] = ()) -> Screened:
    """``traj`` checked from the measured joints ``start``; ``tool`` maps the arm joints
    (``arm_joints`` order) to the tool position for the workspace check."""

    cfg = limits.config
    clamp = cfg.on_violation == "clamp"
    names = list(traj.joint_names)
    bad = _malformed(traj, start, limits)
    if bad:
        return Screened(None, (bad,))
    q = np.asarray(traj.positions, dtype=float)
    t = np.asarray(traj.times, dtype=float)
    lower = np.array([limits.lower[n] for n in names])
    upper = np.array([limits.upper[n] for n in names])
    reasons: list[str] = []
    out = (q < lower - TOLERANCE) | (q > upper + TOLERANCE)
    if out.any():
        reasons += [f"joint_limit:{names[j]}" for j in np.flatnonzero(out.any(axis=0))]
        if not clamp:
            return Screened(None, tuple(reasons))
        q = np.clip(q, lower, upper)
    if tool is not None and arm_joints and set(arm_joints) <= set(names):
        cols = [names.index(n) for n in arm_joints]
        lo, hi = np.asarray(cfg.workspace_min), np.asarray(cfg.workspace_max)
        if any(_outside(tool(row[cols]), lo, hi) for row in q):
            return Screened(None, (*reasons, "workspace"))
    q0 = np.array([start[n] for n in names])
    q, t, step = _steps(q0, q, t, cfg.max_step, clamp)
    reasons += [f"step:{names[j]}" for j in step]
    if step and not clamp:
        return Screened(None, tuple(reasons))
    vmax = np.array([limits.velocity[n] for n in names])
    amax = np.array([limits.acceleration[n] for n in names])
    t, fast = _timing(q0, q, t, vmax, amax, clamp)
    reasons += [f"{kind}:{names[j]}" for kind, j in fast]
    if fast and not clamp:
        return Screened(None, tuple(reasons))
    if not reasons:
        return Screened(traj, ())
    times = tuple(on_the_wire(float(x)) for x in t)
    return Screened(Trajectory(traj.joint_names, times, tuple(tuple(float(v) for v in row) for row in q)),
                    tuple(reasons), changed=True)


def _outside(point: Vec3, lo: np.ndarray, hi: np.ndarray) -> bool:
    p = np.asarray(point)
    return bool(np.any(p < lo) or np.any(p > hi))


def limit_ratios(traj: Trajectory, start: dict[str, float], limits: Limits) -> tuple[float, float]:
    """The fastest joint velocity and acceleration of ``traj`` (well-formed) from ``start``, each as a
    fraction of its joint's limit (1.0: at the limit)."""
    dq, dt, vmax, amax = _segments(traj, start, limits)
    return float((np.abs(dq) / dt[:, None] / vmax).max()), float((_accelerations(dq, dt) / amax).max())


def _segments(traj: Trajectory, start: dict[str, float], limits: Limits):
    """Per segment (from ``start``) the joint changes and durations; per joint the velocity and
    acceleration limits."""
    names = list(traj.joint_names)
    q = np.vstack([[start[n] for n in names], np.asarray(traj.positions, dtype=float)])
    return (np.diff(q, axis=0), np.diff(np.concatenate([[0.0], traj.times])),
            np.array([limits.velocity[n] for n in names]), np.array([limits.acceleration[n] for n in names]))


def _malformed(traj: Trajectory, start: dict[str, float], limits: Limits) -> str:
    """:func:`~physgen.motion.trajectory.malformed` as ``malformed:<code>``, and the screen's own
    needs: the measured joints (``no_measured_joints``) and a first point after the start, so that it
    has a speed (``times_not_increasing``)."""
    bad = malformed(traj, limits.lower)
    if bad:
        return f"malformed:{bad}"
    if any(n not in start or not math.isfinite(start[n]) for n in traj.joint_names):
        return "malformed:no_measured_joints"
    if traj.times[0] <= 0:
        return "malformed:times_not_increasing"
    return ""


def _steps(q0: np.ndarray, q: np.ndarray, t: np.ndarray, max_step: float, clamp: bool):
    """Waypoints with no joint moving more than ``max_step`` between two (split when ``clamp``)."""
    prev = np.vstack([q0, q[:-1]])
    delta = np.abs(q - prev)
    over = sorted({int(j) for j in np.flatnonzero((delta > max_step * (1 + TOLERANCE)).any(axis=0))})
    if not over or not clamp:
        return q, t, over
    rows, times, t_prev = [], [], 0.0
    for a, b, tb in zip(prev, q, t):
        n = max(1, math.ceil(float(np.abs(b - a).max()) / max_step - TOLERANCE))
        for i in range(1, n + 1):
            rows.append(a + (b - a) * i / n)
            times.append(t_prev + (tb - t_prev) * i / n)
        t_prev = tb
    return np.asarray(rows), np.asarray(times), over


def _timing(q0: np.ndarray, q: np.ndarray, t: np.ndarray, vmax: np.ndarray, amax: np.ndarray, clamp: bool):
    """Times within the velocity and acceleration limits (stretched when ``clamp``), and the
    violations of the given times as ``[(kind, joint index)]``."""
    dq = np.diff(np.vstack([q0, q]), axis=0)
    dt = np.diff(np.concatenate([[0.0], t]))
    found = _violations(dq, dt, vmax, amax)
    if not found or not clamp:
        return t, found
    return np.cumsum(_fit(dq, dt, vmax, amax)), found


def retime(traj: Trajectory, start: dict[str, float], limits: Limits, scale: float = 1.0) -> Trajectory:
    """``traj``'s waypoints, no sooner than its times, timed so every joint keeps within ``scale`` of
    its velocity and acceleration limits, from rest at ``start`` to rest at the end (how the
    planner times its paths; clamping uses the same pass)."""

    dq, dt, vmax, amax = _segments(traj, start, limits)
    dt = _fit(dq, dt, vmax * scale, amax * scale)
    return Trajectory(traj.joint_names, tuple(on_the_wire(float(x)) for x in np.cumsum(dt)), traj.positions)


SLOWER = 0.98 ** np.arange(1200)  # the rates a segment may slow to, fastest first (down to ~3e-11)


def _fit(dq: np.ndarray, dt: np.ndarray, vmax: np.ndarray, amax: np.ndarray) -> np.ndarray:
    """Segment durations, each no shorter than in ``dt``, within the velocity and acceleration limits.

    One forward and one backward pass over the segments' rates (1 / duration): each segment takes
    the fastest rate its neighbour, already fixed, allows at the waypoint between them; the arm
    starts and ends at rest. Every waypoint is checked with both its segments' final rates, so the
    result is within the limits; it only ever slows a segment."""
    rate = 1.0 / np.maximum(dt, (np.abs(dq) / vmax).max(axis=1))
    reach = (np.abs(dq) / amax).max(axis=1)  # from or to rest in one segment: |dq| rate^2 <= amax
    rest = [1.0 / math.sqrt(x) if x > 0 else math.inf for x in reach]
    rate[0] = min(rate[0], rest[0])
    for i in range(1, len(rate)):
        rate[i] = _fastest(dq[i], rate[i], dq[i - 1], rate[i - 1], amax)
    rate[-1] = min(rate[-1], rest[-1])
    for i in range(len(rate) - 2, -1, -1):
        rate[i] = _fastest(dq[i], rate[i], dq[i + 1], rate[i + 1], amax)
    return 1.0 / rate


def _fastest(dq: np.ndarray, top: float, dq_fixed: np.ndarray, rate_fixed: float, amax: np.ndarray) -> float:
    """The fastest rate up to ``top`` for a segment moving ``dq`` beside a fixed segment (``dq_fixed``
    at ``rate_fixed``) that keeps the acceleration at the waypoint between them within ``amax``
    (``_accelerations``: change of velocity over the mean of the two durations). The rates are
    tried in growing batches (most segments take the first), each computed as in one batch."""
    for stop in (1, 64, len(SLOWER)):
        r = top * SLOWER[:stop, None]
        acc = np.abs(dq * r - dq_fixed * rate_fixed) / ((1.0 / r + 1.0 / rate_fixed) / 2)
        ok = np.flatnonzero((acc <= amax).all(axis=1))
        if len(ok):
            return float(r[ok[0], 0])
    return float(r[-1, 0])


def _segment_velocity(dq: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Per segment (rows) and joint, padded with rest before the first and after the last."""
    v = dq / dt[:, None]
    rest = np.zeros((1, dq.shape[1]))
    return np.vstack([rest, v, rest])


def _accelerations(dq: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Per waypoint (rows: the start, each waypoint, the end) and joint: the change of velocity over
    the mean of the two segments' durations, from rest and to rest."""
    v = _segment_velocity(dq, dt)
    pad = np.concatenate([[dt[0]], dt, [dt[-1]]])
    return np.abs(np.diff(v, axis=0)) / ((pad[:-1] + pad[1:]) / 2)[:, None]


def _violations(dq: np.ndarray, dt: np.ndarray, vmax: np.ndarray, amax: np.ndarray) -> list[tuple[str, int]]:
    fast = (np.abs(dq) / dt[:, None]) > vmax * (1 + TOLERANCE)
    jerky = _accelerations(dq, dt) > amax * (1 + TOLERANCE)
    return ([("velocity", int(j)) for j in np.flatnonzero(fast.any(axis=0))]
            + [("acceleration", int(j)) for j in np.flatnonzero(jerky.any(axis=0))])
