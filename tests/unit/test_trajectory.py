"""Joint trajectories on the cell's arm: followed to within a milliradian, rejected with a reason."""

from __future__ import annotations

import math

import pytest

from physgen.motion.trajectory import Trajectory, check, follow


def test_follow_reaches_the_last_waypoint_through_the_middle_one(cell):
    cell.arm.reset_home()
    q = cell.arm.joint_positions()
    traj = Trajectory(("panda_joint1", "panda_joint2", "panda_finger_joint1", "panda_finger_joint2"), (0.5, 1.0),
                      ((q[0] + 0.1, q[1], 0.03, 0.03), (q[0] + 0.2, q[1] + 0.1, 0.02, 0.02)))
    assert check(traj, cell) == ""
    t0 = cell.sim_time
    errors = follow(cell, traj)
    assert max(errors.values()) < 1e-3
    assert cell.sim_time - t0 == pytest.approx(1.25, abs=0.02)  # duration plus the hold, in simulated time
    assert cell.arm.joint_positions()[0] == pytest.approx(q[0] + 0.2, abs=1e-3)


@pytest.mark.parametrize("traj, reason", [
    (Trajectory((), (), ()), "empty"),
    (Trajectory(("elbow",), (1.0,), ((0.0,),)), "unknown_joint"),
    (Trajectory(("panda_joint1", "panda_joint1"), (1.0,), ((0.0, 0.0),)), "unknown_joint"),
    (Trajectory(("panda_joint1",), (1.0,), ((0.0, 0.1),)), "bad_length"),
    (Trajectory(("panda_joint1",), (1.0, 0.5), ((0.0,), (0.1,))), "times_not_increasing"),
    (Trajectory(("panda_joint4",), (1.0,), ((0.5,),)), "out_of_limits"),
    (Trajectory(("panda_joint1",), (1.0,), ((math.nan,),)), "not_finite"),
    (Trajectory(("panda_finger_joint1",), (1.0,), ((0.05,),)), "out_of_limits"),
])
def test_bad_trajectories_are_rejected_with_a_reason(cell, traj, reason):
    assert check(traj, cell) == reason
    with pytest.raises(ValueError, match=reason):
        follow(cell, traj)
