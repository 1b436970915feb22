"""Safety limits (physgen/motion/safety.py): generated commands never leave the limits once screened, a
rejected one is named, a clamped one keeps its path, and a tool outside the workspace never moves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physgen.cell.config import SafetyConfig
from physgen.motion.kinematics import ArmModel, Kinematics
from physgen.motion.safety import Limits, retime, screen
from physgen.motion.trajectory import Trajectory

ARM = ArmModel().arm_joints
START = dict(zip(ARM, ArmModel().rest_pose))


@pytest.fixture(scope="module")
def kin():
    k = Kinematics(ArmModel())
    yield k
    k.close()


def limits(kin, mode: str) -> Limits:
    return Limits.of(kin, SafetyConfig(on_violation=mode))


def within(traj: Trajectory, start: dict, lim: Limits) -> list[str]:
    """An independent check of a trajectory against the limits: what it breaks."""
    names = traj.joint_names
    q = np.vstack([[start[n] for n in names], np.asarray(traj.positions)])
    t = np.concatenate([[0.0], traj.times])
    dt = np.diff(t)
    broken = []
    for j, n in enumerate(names):
        if q[1:, j].min() < lim.lower[n] - 1e-6 or q[1:, j].max() > lim.upper[n] + 1e-6:
            broken.append(f"position {n}")
        dq = np.diff(q[:, j])
        if np.abs(dq).max() > lim.config.max_step * (1 + 1e-5):
            broken.append(f"step {n}")
        v = np.concatenate([[0.0], dq / dt, [0.0]])
        if np.abs(dq / dt).max() > lim.velocity[n] * (1 + 1e-5):
            broken.append(f"velocity {n}")
        span = np.concatenate([[dt[0]], dt, [dt[-1]]])
        if (np.abs(np.diff(v)) / ((span[:-1] + span[1:]) / 2)).max() > lim.acceleration[n] * (1 + 1e-5):
            broken.append(f"acceleration {n}")
    return broken


@st.composite
def commands(draw):
    n = draw(st.integers(1, 6))
    rows = [tuple(draw(st.floats(START[j] - 2.0, START[j] + 2.0)) for j in ARM) for _ in range(n)]
    gaps = [draw(st.floats(1e-3, 2.0)) for _ in range(n)]
    return Trajectory(ARM, tuple(float(x) for x in np.cumsum(gaps)), tuple(rows))


@settings(max_examples=150, deadline=None)
@given(commands())
def test_a_clamped_command_never_leaves_the_limits_and_keeps_its_path(kin, traj):
    lim = limits(kin, "clamp")
    got = screen(traj, START, lim)
    assert not got.rejected
    assert within(got.trajectory, START, lim) == []
    clipped = np.clip(np.asarray(traj.positions), [lim.lower[n] for n in ARM], [lim.upper[n] for n in ARM])
    out = np.asarray(got.trajectory.positions)
    assert np.allclose(out[-1], clipped[-1])  # the same goal
    rows = iter(out)  # every commanded waypoint is still passed through, in order
    assert all(any(np.allclose(r, c) for r in rows) for c in clipped)
    assert got.changed == bool(got.reasons) and (got.reasons == ()) == (within(traj, START, lim) == [])
    assert screen(got.trajectory, START, lim).reasons == ()  # a clamped command passes as it is


@settings(max_examples=150, deadline=None)
@given(commands())
def test_a_rejecting_executor_sends_a_command_unchanged_or_not_at_all(kin, traj):
    lim = limits(kin, "reject")
    got = screen(traj, START, lim)
    if got.rejected:
        assert got.reasons and within(traj, START, lim) != []
    else:
        assert got.trajectory is traj and got.reasons == () and within(traj, START, lim) == []


@settings(max_examples=150, deadline=None)
@given(commands(), st.floats(0.1, 1.0))
def test_a_retimed_path_keeps_its_waypoints_within_a_fraction_of_the_limits(kin, traj, scale):
    lim = limits(kin, "reject")
    got = retime(traj, START, lim, scale)
    assert got.positions == traj.positions
    assert all(new >= old - 1e-9 for new, old in zip(got.times, traj.times))  # never sooner
    slower = Limits(lim.lower, lim.upper, {n: v * scale for n, v in lim.velocity.items()},
                    {n: a * scale for n, a in lim.acceleration.items()}, lim.config)
    assert [b for b in within(got, START, slower) if b.split()[0] in ("velocity", "acceleration")] == []


def test_each_violation_is_named(kin):
    lim = limits(kin, "reject")
    q = list(ArmModel().rest_pose)
    far = q.copy()
    far[6] += 1.0  # the wrist turns 1 rad
    assert screen(Trajectory(ARM, (10.0,), (tuple(far),)), START, lim).reasons == ("step:panda_joint7",)
    near = q.copy()
    near[6] += 0.2
    assert screen(Trajectory(ARM, (0.01,), (tuple(near),)), START, lim).reasons == (
        "velocity:panda_joint7", "acceleration:panda_joint7")
    assert screen(Trajectory(ARM, (1.0,), (tuple(near),)), START, lim).reasons == ()
    low = q.copy()
    low[3] = 0.5  # joint 4's upper limit is 0
    assert screen(Trajectory(ARM, (10.0,), (tuple(low),)), START, lim).reasons[0] == "joint_limit:panda_joint4"
    for bad, why in [(Trajectory(ARM, (1.0,), ((math.nan,) * 7,)), "malformed:not_finite"),
                     (Trajectory(("elbow",), (1.0,), ((0.0,),)), "malformed:unknown_joint"),
                     (Trajectory(ARM, (1.0, 0.5), (tuple(q), tuple(q))), "malformed:times_not_increasing")]:
        for mode in ("reject", "clamp"):
            assert screen(bad, START, limits(kin, mode)).reasons == (why,)


def test_the_tool_never_leaves_the_workspace_in_either_mode(kin):
    inside = kin.ik(ArmModel().rest_pose, (0.5, 0.0, 0.2), (1.0, 0.0, 0.0, 0.0))
    below = kin.ik(ArmModel().rest_pose, (0.5, 0.0, -0.05), (1.0, 0.0, 0.0, 0.0))  # under the table top
    tool = lambda q: kin.fk(q)[0]  # noqa: E731
    for mode in ("reject", "clamp"):
        lim = limits(kin, mode)
        here = dict(zip(ARM, inside))
        assert screen(Trajectory(ARM, (5.0,), (inside,)), here, lim, tool, ARM).reasons == ()
        got = screen(Trajectory(ARM, (5.0, 10.0), (inside, below)), here, lim, tool, ARM)
        assert got.rejected and got.reasons[-1] == "workspace"


def test_fingers_have_their_own_limits(kin):
    lim = limits(kin, "reject")
    fingers = ArmModel().finger_joints
    start = dict.fromkeys(fingers, 0.0)
    assert screen(Trajectory(fingers, (1.0,), ((0.04, 0.04),)), start, lim).reasons == ()
    too_wide = Trajectory(fingers, (1.0,), ((0.06, 0.04),))
    assert screen(too_wide, start, lim).reasons == ("joint_limit:panda_finger_joint1",)
