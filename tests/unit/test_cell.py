"""The robot cell: determinism (same seed -> same image bytes and outcome, across cells and after
other episodes), snapshots, settling, pins, the physics record and the cameras."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from physgen.cell.camera import Camera
from physgen.cell.cell import RobotCell
from physgen.cell.config import CameraConfig, CellConfig
from physgen.cell.scene import Appearance, BlockSpec, SceneSpec
from physgen.evaluation.episode import begin, finish, observation
from physgen.motion.commands import Pick, Place
from physgen.motion.planner import execute
from physgen.policy.expert import ExpertPolicy
from physgen.tasks import load_task
from physgen.tasks.towers import Sandbox, stack

CUBE = (0.05, 0.05, 0.05)
# One observation-only task, and two where the arm moves blocks.
EPISODES = [("stability", 1, "train"), ("shift", 0, "train"), ("overhang", 0, "heldout")]


def outcome(record) -> dict:
    d = record.to_dict()
    d.pop("latency")
    return d


def tower(ys, held=True):
    return SceneSpec(tuple(stack(["red", "green", "blue"][: len(ys)], ["red", "green", "blue"], [CUBE] * len(ys),
                                 list(ys), held=held)))


@pytest.mark.slow
def test_two_cells_interleaved_give_identical_images_and_outcomes(oracles):
    expert = ExpertPolicy(oracles)
    with RobotCell() as a, RobotCell() as b:
        for name, seed, split in EPISODES:
            task = load_task(name)
            inst_a, img_a = begin(a, task, seed, split)
            inst_b, img_b = begin(b, task, seed, split)
            assert inst_a == inst_b
            assert img_a.dtype == np.uint8 and np.array_equal(img_a, img_b)
            text = expert.act(observation(task, inst_a, img_a))
            # Finish in the opposite order to begin: each cell's physics runs while the other is mid-episode.
            rec_b = finish(b, task, inst_b, text, oracles, "expert")
            rec_a = finish(a, task, inst_a, text, oracles, "expert")
            assert outcome(rec_a) == outcome(rec_b)
            assert np.array_equal(a.render(), b.render())  # the end states look the same too


@pytest.mark.slow
def test_same_cell_after_a_different_episode_gives_identical_results(cell, oracles):
    expert = ExpertPolicy(oracles)

    def run(name, seed, split):
        task = load_task(name)
        inst, img = begin(cell, task, seed, split)
        rec = finish(cell, task, inst, expert.act(observation(task, inst, img)), oracles, "expert")
        return img, outcome(rec)

    first = {ep: run(*ep) for ep in EPISODES[1:]}
    run("placement", 1, "train")  # something else entirely in between
    for ep in reversed(EPISODES[1:]):
        img, rec = run(*ep)
        assert np.array_equal(img, first[ep][0])
        assert rec == first[ep][1]


def test_restored_snapshot_replays_an_action_identically(cell):
    cell.load(SceneSpec((BlockSpec("red", CUBE, (0.55, 0.0, 0.025), "red"),
                         *stack(["green", "blue"], ["green", "blue"], [CUBE] * 2, [0.1, 0.13], held=True))))
    snap = cell.save()

    def run(target):
        cell.restore(snap)
        assert cell.pinned == {"green", "blue"}
        assert cell.sim_time == snap.sim_time
        execute(cell, [Pick("red"), Place("red", target)])
        cell.release()
        settle = cell.settle()
        return settle.to_dict(), settle.final_positions, cell.arm.joint_positions()

    first = run((0.5, -0.1, 0.025))
    assert first == run((0.5, -0.1, 0.025))
    run((0.6, 0.2, 0.025))  # a different action in between must leave no trace
    assert first == run((0.5, -0.1, 0.025))
    assert first[0]["stood"] is False  # the held blue block overhangs green by 3 of 5 cm: it fell


def test_sandbox_trials_do_not_depend_on_earlier_trials():
    task = load_task("shift")
    inst = task.sample(5)
    top = inst.facts["top"]
    x, y, z = inst.scene.block(top).position
    move = {top: (x, y + 0.01, z)}
    fresh = Sandbox()
    try:
        fresh.start(inst.scene)
        reference = fresh.trial(move).final_positions  # first trial in a brand-new world
        for other in (move, {top: (x, y - 0.03, z)}, {top: None}, {}):
            fresh.trial(other)
            assert fresh.trial(move).final_positions == reference
    finally:
        fresh.close()


def test_settle_stable_tower_stands_still(cell):
    cell.load(tower([0.0, 0.01, 0.015], held=False))
    result = cell.settle()
    assert result.stood and result.at_rest
    assert max(result.displacements.values()) < 1e-3
    assert max(result.tilts_deg.values()) < 1.0
    assert set(result.final_positions) == {"red", "green", "blue"}


def test_settle_released_unstable_tower_falls(cell):
    cell.load(tower([0.0, 0.02, 0.045]))  # the top two blocks' centre of mass is 2.25 cm right of red's edge
    held = cell.settle()
    assert held.stood  # pinned, nothing moves
    cell.release()
    fell = cell.settle()
    assert not fell.stood
    assert max(fell.displacements.values()) > cell.config.physics.fall_displacement
    assert fell.final_positions["blue"][1] > 0.045  # it fell to the right, the way it leaned


def test_pin_and_unpin(cell):
    cell.load(SceneSpec((BlockSpec("red", CUBE, (0.55, 0.0, 0.2), "red", held=True),)))
    assert cell.pinned == {"red"}
    cell.step(120)
    assert cell.block_pose("red").position[2] == pytest.approx(0.2, abs=1e-3)
    cell.unpin("red")
    assert cell.pinned == frozenset()
    cell.step(120)
    assert cell.block_pose("red").position[2] < 0.1  # half a second of free fall
    cell.pin("red")
    z = cell.block_pose("red").position[2]
    cell.step(60)
    assert cell.block_pose("red").position[2] == pytest.approx(z, abs=1e-3)
    cell.release()
    assert cell.pinned == frozenset()


def test_physics_record(cell):
    rec = cell.physics_record()
    assert rec["timestep"] == cell.config.physics.timestep
    assert rec["solver_iterations"] == cell.config.physics.solver_iterations
    assert rec["renderer"] in ("tiny", "egl")
    assert rec["engine"] == "pybullet"


def test_wrist_camera_off_is_a_clear_error(cell):
    cell.load(tower([0.0]))
    with pytest.raises(RuntimeError, match="wrist camera is off"):
        cell.render_wrist()


def test_wrist_camera_renders_when_on():
    with RobotCell(CellConfig(wrist_camera=True, wrist_resolution=(64, 48))) as c:
        c.load(tower([0.0]))
        img = c.render_wrist()
        assert img.shape == (48, 64, 3) and img.dtype == np.uint8
        assert img.std() > 0  # not a blank frame


@pytest.mark.parametrize("width, height", [(224, 224), (160, 120)])
def test_scene_camera_resolution(width, height):
    with RobotCell(CellConfig(scene_camera=CameraConfig(width=width, height=height))) as c:
        c.load(tower([0.0, 0.01]))
        img = c.render()
        assert img.shape == (height, width, 3) and img.dtype == np.uint8
        assert img.std() > 0
        assert np.array_equal(img, c.render())  # rendering does not change the scene


def test_a_still_scene_is_drawn_once_and_every_change_is_drawn_again(monkeypatch):
    draws = []
    draw = Camera.render
    monkeypatch.setattr(Camera, "render", lambda self, appearance: draws.append(1) or draw(self, appearance))
    with RobotCell() as c:
        def fresh():  # what the renderer draws now, bypassing the last frame
            return draw(c.scene_camera, c.scene.appearance)

        c.load(tower([0.0, 0.04]))  # offset: the top block falls
        first = c.render()
        assert np.array_equal(c.render(), first) and len(draws) == 1
        first[:] = 0  # the caller's copy; the kept frame is untouched
        assert np.array_equal(c.render(), fresh()) and len(draws) == 1
        c.release()
        c.step(120)
        moved = c.render()
        assert len(draws) == 2 and np.array_equal(moved, fresh())
        c.client.resetJointState(c.arm.body, 0, c.arm.joint_positions()[0] + 0.3)
        assert np.array_equal(c.render(), fresh()) and len(draws) == 3
        c.load(tower([0.0]))
        assert np.array_equal(c.render(), fresh()) and len(draws) == 4
        drawn = c.render(reuse=False)  # what a benchmark times: a draw every time, the same image
        assert np.array_equal(drawn, c.render()) and len(draws) == 5
        assert np.array_equal(c.render(reuse=False), drawn) and len(draws) == 6
        c.load(tower([0.0]))  # the same scene built again (the next policy's turn): the same image, not drawn
        assert np.array_equal(c.render(), drawn) and len(draws) == 6
        c.load(dataclasses.replace(tower([0.0]), appearance=Appearance(table_texture="plain")))  # another: drawn
        assert np.array_equal(c.render(), fresh()) and len(draws) == 7
    with RobotCell() as other:  # and the same image as a brand-new cell draws
        other.load(tower([0.0]))
        assert np.array_equal(other.render(), drawn)
