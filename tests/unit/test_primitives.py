"""Motion primitives on the real gripper: pick, place, push, execute; physical failures are
reported as ok=False with a reason, never raised."""

from __future__ import annotations

import numpy as np
import pytest

from physgen.cell.arm import FINGER_OPEN, HOME_EE
from physgen.cell.primitives import REACH, Pick, Place, Push, _yaw_for, execute, go_home, pick, place, push
from physgen.cell.scene import BlockSpec, SceneSpec

CUBE = (0.05, 0.05, 0.05)


def load(cell, *blocks: BlockSpec) -> None:
    cell.load(SceneSpec(tuple(blocks)))


def cube(name="red", x=0.55, y=0.0, **kw) -> BlockSpec:
    return BlockSpec(name, CUBE, (x, y, CUBE[2] / 2), name, **kw)


def test_pick_then_place_a_cube(cell):
    load(cell, cube())
    picked = pick(cell, "red")
    assert picked.ok and picked.reason == ""
    assert picked.details["lift"] > 0.5 * cell.config.motion.approach_height
    assert 0.045 < picked.details["finger_gap"] < 2 * FINGER_OPEN  # the fingers stopped on the 5 cm cube
    assert picked.error < 0.005  # the gripper reached the grasp pose

    target = (0.5, 0.12, 0.025)
    placed = place(cell, "red", target)
    assert placed.ok
    assert placed.error < 0.005
    cell.settle()
    assert np.linalg.norm(np.subtract(cell.block_pose("red").position, target)) < 0.005


def test_fingers_close_across_the_shorter_side(cell):
    # At yaw 0 the fingers close along world y; _yaw_for turns them to close along x when x is the shorter side.
    load(cell, BlockSpec("red", (0.04, 0.1, 0.03), (0.55, 0.0, 0.015), "red"))
    assert _yaw_for(cell, "red") == pytest.approx(np.pi / 2)
    load(cell, BlockSpec("red", (0.1, 0.04, 0.03), (0.55, 0.0, 0.015), "red"))
    assert _yaw_for(cell, "red") == pytest.approx(0.0)


def test_failed_grasp_is_detected(cell):
    # 12 cm along both sides: wider than the 8 cm opening whichever way the fingers close.
    load(cell, BlockSpec("red", (0.12, 0.12, 0.05), (0.55, 0.0, 0.025), "red"))
    result = pick(cell, "red")
    assert not result.ok
    assert result.reason == "gripper_closed_empty"
    assert result.details["lift"] < 0.01
    assert cell.block_pose("red").position[2] == pytest.approx(0.025, abs=0.01)  # still on the table


@pytest.mark.parametrize("where", [(0.95, 0.0), (0.55, 0.6), (0.1, 0.0)])
def test_pick_unreachable_block_does_not_move(cell, where):
    load(cell, cube(x=where[0], y=where[1]))
    before, t0 = cell.arm.joint_positions(), cell.sim_time
    result = pick(cell, "red")
    assert not result.ok and result.reason == "unreachable"
    assert cell.sim_time == t0 and cell.arm.joint_positions() == before


def test_place_and_push_unreachable_targets(cell):
    load(cell, cube())
    assert pick(cell, "red").ok
    before, t0 = cell.arm.joint_positions(), cell.sim_time
    result = place(cell, "red", (0.55, 0.0, REACH[2][1] + 0.1))
    assert not result.ok and result.reason == "unreachable"
    result = push(cell, (0.55, 0.0, 0.025), (0.0, 1.0, 0.0), 1.0)  # the end lies far outside
    assert not result.ok and result.reason == "unreachable"
    assert cell.sim_time == t0 and cell.arm.joint_positions() == before


@pytest.mark.parametrize("start, direction", [((0.55, -0.09, 0.025), (0.0, 1.0, 0.0)),
                                              ((0.45, 0.0, 0.025), (1.0, 0.0, 0.0))])
def test_push_moves_the_block_along_the_push(cell, start, direction):
    load(cell, cube())
    depth = 0.13
    before = np.asarray(cell.block_pose("red").position)
    result = push(cell, start, direction, depth)
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
    assert cell.arm.finger_target == FINGER_OPEN  # let go after the failure
    assert cell.block_pose("green").position == pytest.approx(green, abs=1e-3)  # the push never ran


def test_execute_runs_every_command_then_goes_home(cell):
    load(cell, cube())
    results = execute(cell, [Pick("red"), Place("red", (0.5, -0.1, 0.025))])
    assert [r.primitive for r in results] == ["pick", "place", "home"]
    assert all(r.ok for r in results)
    assert results[-1].to_dict()["error"] < 0.01


def test_go_home_from_home(cell):
    load(cell, cube())
    assert go_home(cell).ok


def test_execute_rejects_a_non_command(cell):
    load(cell, cube())
    with pytest.raises(TypeError, match="not a motion command"):
        execute(cell, ["pick red"])
