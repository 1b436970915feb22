"""Motion primitives planned as joint trajectories and run on the real simulated gripper; physical
failures are reported as ok=False with a reason, never raised."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physgen.cell.arm import FINGER_OPEN, HOME_EE
from physgen.cell.config import SafetyConfig
from physgen.cell.scene import BlockSpec, SceneSpec
from physgen.motion.commands import (
    Pick,
    PickAt,
    Place,
    PlaceAt,
    Push,
    PushAlong,
    grasp_yaw,
    motion_dict,
    motion_of,
    resolve,
)
from physgen.motion.hardware import CellHardware
from physgen.motion.kinematics import TURN_STEP
from physgen.motion.planner import REACH, Planner, cell_planner, execute, kinematics
from physgen.motion.trajectory import Trajectory

CUBE = (0.05, 0.05, 0.05)


def load(cell, *blocks: BlockSpec) -> SceneSpec:
    scene = SceneSpec(tuple(blocks))
    cell.load(scene)
    return scene


def cube(name="red", x=0.55, y=0.0, **kw) -> BlockSpec:
    return BlockSpec(name, CUBE, (x, y, CUBE[2] / 2), name, **kw)


def run(cell, *motions):
    ex = cell_planner(cell)
    hw = CellHardware(cell)
    return ex, hw, [getattr(ex, {PickAt: "pick", PlaceAt: "place", PushAlong: "push"}[type(m)])(hw, m)
                    for m in motions]


def test_pick_then_place_a_cube(cell):
    scene = load(cell, cube())
    (pick_at,) = resolve([Pick("red")], scene)
    _, _, (picked,) = run(cell, pick_at)
    assert picked.ok and picked.reason == ""
    assert 0.045 < picked.details["finger_gap"] < 2 * FINGER_OPEN  # the fingers stopped on the 5 cm cube
    assert picked.error < 0.005  # the gripper reached the grasp pose
    assert cell.block_pose("red").position[2] > 0.025 + 0.5 * cell.config.motion.approach_height  # lifted

    target = (0.5, 0.12, 0.025)
    _, _, (placed,) = run(cell, PlaceAt(target, pick_at.yaw))
    assert placed.ok and placed.error < 0.005
    cell.settle()
    assert np.linalg.norm(np.subtract(cell.block_pose("red").position, target)) < 0.005


def test_a_grasp_takes_over_a_pinned_block(cell):
    load(cell, cube(held=True))
    assert cell.pinned == {"red"}
    execute(cell, [Pick("red"), Place("red", (0.5, 0.12, 0.025))])
    assert cell.pinned == frozenset()
    cell.settle()
    assert np.linalg.norm(np.subtract(cell.block_pose("red").position, (0.5, 0.12, 0.025))) < 0.005


def test_fingers_close_across_the_shorter_side():
    # At yaw 0 the fingers close along world y; grasp_yaw turns them to close along x when x is the shorter side.
    scene = SceneSpec((BlockSpec("red", (0.04, 0.1, 0.03), (0.55, 0.0, 0.015), "red"),))
    assert grasp_yaw(scene, "red") == pytest.approx(np.pi / 2)
    scene = SceneSpec((BlockSpec("red", (0.1, 0.04, 0.03), (0.55, 0.0, 0.015), "red"),))
    assert grasp_yaw(scene, "red") == pytest.approx(0.0)


def test_failed_grasp_is_detected(cell):
    # 12 cm along both sides: wider than the 8 cm opening whichever way the fingers close.
    scene = load(cell, BlockSpec("red", (0.12, 0.12, 0.05), (0.55, 0.0, 0.025), "red"))
    _, _, (result,) = run(cell, *resolve([Pick("red")], scene))
    assert not result.ok
    assert result.reason == "gripper_closed_empty"
    assert result.details["finger_gap"] < 0.005
    assert cell.block_pose("red").position[2] == pytest.approx(0.025, abs=0.01)  # still on the table


@pytest.mark.parametrize("where", [(0.95, 0.0), (0.55, 0.6), (0.1, 0.0)])
def test_pick_unreachable_block_does_not_move(cell, where):
    scene = load(cell, cube(x=where[0], y=where[1]))
    before, t0 = cell.arm.joint_positions(), cell.sim_time
    _, _, (result,) = run(cell, *resolve([Pick("red")], scene))
    assert not result.ok and result.reason == "unreachable"
    assert cell.sim_time == t0 and cell.arm.joint_positions() == before


def test_place_and_push_unreachable_targets(cell):
    load(cell, cube())
    before, t0 = cell.arm.joint_positions(), cell.sim_time
    _, _, (placed, pushed) = run(cell, PlaceAt((0.55, 0.0, REACH[2][1] + 0.1), 0.0),
                                 PushAlong((0.55, 0.0, 0.025), (0.0, 1.0, 0.0), 1.0))  # the end lies far outside
    assert not placed.ok and placed.reason == "unreachable"
    assert not pushed.ok and pushed.reason == "unreachable"
    assert cell.sim_time == t0 and cell.arm.joint_positions() == before


@pytest.mark.parametrize("start, direction", [((0.55, -0.09, 0.025), (0.0, 1.0, 0.0)),
                                              ((0.45, 0.0, 0.025), (1.0, 0.0, 0.0))])
def test_push_moves_the_block_along_the_push(cell, start, direction):
    load(cell, cube())
    depth = 0.13
    before = np.asarray(cell.block_pose("red").position)
    _, _, (result,) = run(cell, PushAlong(start, direction, depth))
    assert result.ok and result.error < 0.01
    moved = np.asarray(cell.block_pose("red").position) - before
    d = np.asarray(direction)
    # The gripper meets the near face at the latest when its centre reaches it (fingers have thickness):
    # everything it travels beyond that pushes the block.
    gap_to_face = np.dot(before - np.asarray(start), d) - CUBE[0] / 2
    beyond_contact = depth - gap_to_face
    along = float(np.dot(moved, d))
    assert along > 0.5 * beyond_contact
    assert along < depth  # it cannot move further than the gripper did
    assert np.linalg.norm(moved - along * d) < 0.01  # little sideways drift


def test_execute_stops_after_a_failure_and_goes_home(cell):
    load(cell, BlockSpec("red", (0.12, 0.12, 0.05), (0.55, 0.0, 0.025), "red"), cube("green", y=0.2))
    green = cell.block_pose("green").position
    results = execute(cell, [Pick("red"), Place("red", (0.5, -0.2, 0.025)), Push((0.5, 0.1, 0.025), (0, 1, 0), 0.1)])
    assert [r.primitive for r in results] == ["pick", "home"]
    assert not results[0].ok and results[0].reason == "gripper_closed_empty"
    assert results[-1].ok
    assert np.linalg.norm(np.subtract(cell.arm.state().ee_position, HOME_EE)) < 0.01
    assert cell.arm.finger_target == pytest.approx(FINGER_OPEN)  # let go after the failure
    assert cell.block_pose("green").position == pytest.approx(green, abs=1e-3)  # the push never ran


def test_execute_runs_every_command_then_goes_home(cell):
    load(cell, cube())
    results = execute(cell, [Pick("red"), Place("red", (0.5, -0.1, 0.025))])
    assert [r.primitive for r in results] == ["pick", "place", "home"]
    assert all(r.ok for r in results)
    assert results[-1].to_dict()["error"] < 0.01


def test_execute_rejects_a_non_command(cell):
    load(cell, cube())
    with pytest.raises(TypeError, match="not a motion command"):
        execute(cell, ["pick red"])


class FakeRejectingHardware:
    """A fake arm (test only) that accepts ``accept`` trajectories, then rejects every one."""

    def __init__(self, cell, accept: int):
        self.real, self.accept, self.seen = CellHardware(cell), accept, 0

    def joints(self):
        return self.real.joints()

    def run(self, traj: Trajectory) -> str:
        self.seen += 1
        return self.real.run(traj) if self.seen <= self.accept else "controller_rejected"


def test_a_rejected_trajectory_fails_the_primitive_with_its_reason(cell):
    scene = load(cell, cube())
    ex = cell_planner(cell)
    results = ex.execute(FakeRejectingHardware(cell, accept=2), resolve([Pick("red"), Place("red", (0.5, 0.1, 0.03))],
                                                                        scene))
    assert [(r.primitive, r.ok, r.reason) for r in results] == [
        ("pick", False, "controller_rejected"), ("home", False, "controller_rejected")]


def test_motion_records_round_trip_and_reject_garbage():
    for m in (PickAt((0.5, 0.1, 0.02), 1.5), PlaceAt((0.5, 0.1, 0.02), 0.0, 0.01),
              PushAlong((0.5, 0, 0.02), (0, 1, 0), 0.1)):
        assert motion_of(motion_dict(m)) == m
    for bad in ({"type": "fly"}, {"type": "pick", "position": [0.5, 0.1], "yaw": 0.0},
                {"type": "pick", "position": [0.5, 0.1, float("nan")], "yaw": 0.0}, {"type": "pick"}, "pick"):
        with pytest.raises(ValueError):
            motion_of(bad)


@settings(max_examples=40, deadline=None)
@given(x=st.floats(REACH[0][0], REACH[0][1]), y=st.floats(REACH[1][0], REACH[1][1]),
       z=st.floats(0.0, 0.4), yaw=st.floats(-np.pi / 2, np.pi / 2))  # the executor turns at most 90 degrees
def test_planned_lines_stay_within_the_urdf_limits(x, y, z, yaw):
    kin = kinematics()
    start = kin.ik(kin.model.rest_pose, HOME_EE, (1.0, 0.0, 0.0, 0.0))
    traj = kin.line(start, (x, y, z), yaw, 0.5, 4 / 240)
    lo, hi = np.asarray(kin.lower), np.asarray(kin.upper)
    assert all(np.all(lo - 1e-9 <= q) and np.all(q <= hi + 1e-9) for q in map(np.asarray, traj.positions))
    assert all(b > a for a, b in zip(traj.times, traj.times[1:]))
    turns = [kin.fk(q)[1] for q in (start, *traj.positions)]  # the wrist turns along the line, not at once
    assert max(2 * np.arccos(min(1.0, abs(np.dot(a, b)))) for a, b in zip(turns, turns[1:])) < 4 * TURN_STEP


def test_the_executor_plans_within_the_safety_limits_and_turns_the_wrist_at_most_90_degrees(cell):
    # The block turned so that its grasp yaw is 2 rad from the tool's: the other finger takes its side.
    scene = load(cell, cube(yaw=2.0))
    ex = Planner(kinematics(), cell.config.motion, cell_planner(cell).period, SafetyConfig(on_violation="reject"))
    hw = CellHardware(cell)
    pick_at, place_at = resolve([Pick("red"), Place("red", (0.5, 0.12, 0.025))], scene)
    before = ex.kin.yaw(ex._q(hw))
    assert abs(pick_at.yaw - before) > np.pi / 2
    assert ex.pick(hw, pick_at).ok
    turned = ex.kin.yaw(ex._q(hw)) - before
    assert abs(turned) <= np.pi / 2 and abs(np.sin(before + turned - pick_at.yaw)) < 0.02  # the same grasp line
    assert ex.place(hw, place_at).ok and ex.home(hw).ok
    assert ex.screened == {"passed": ex.screened["passed"], "clamped": 0, "rejected": 0}
