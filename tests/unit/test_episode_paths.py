"""The fast paths of an episode give the reference path's records, to the bit, on every task.

Reference: a new cell per episode, the frame drawn (visual meshes built), the oracle computed.
Fast: one cell for every episode, in one order and then the reverse; a policy that does not look
(no frame, the arm built without visual meshes); the oracle from the shared disk cache. Records are
rounded, so the unrounded world state at the end of each episode is compared too."""

from __future__ import annotations

import pytest

from physgen.cell.camera import Camera
from physgen.cell.cell import RobotCell
from physgen.evaluation.episode import run_episode
from physgen.policy.base import Observation, Policy
from physgen.policy.chance import ChancePolicy
from physgen.policy.expert import ExpertPolicy
from physgen.tasks import load_task, task_names
from physgen.tasks.oracle import Oracles

EPISODES = [(name, seed, split, kind) for name in task_names() for seed, split in ((0, "train"), (1, "heldout"))
            for kind in ("expert", "chance")]


class Looking(Policy):
    """``policy`` made to look at the frame: its episodes take the reference path."""

    uses_image = True

    def __init__(self, policy: Policy):
        self.inner, self.name = policy, policy.name

    def act(self, obs: Observation) -> str:
        assert obs.image is not None and obs.image.ndim == 3
        return self.inner.act(obs)


def make(kind: str, oracles: Oracles) -> Policy:
    return ExpertPolicy(oracles) if kind == "expert" else ChancePolicy(seed=3)


def world_state(cell: RobotCell) -> tuple:
    """Every block's pose and velocity and every arm joint's position and velocity, unrounded."""
    c = cell.client
    blocks = tuple((c.getBasePositionAndOrientation(b), c.getBaseVelocity(b)) for b in cell.blocks.values())
    return blocks, tuple(s[:2] for s in c.getJointStates(cell.arm.body, range(c.getNumJoints(cell.arm.body))))


def episode(cell: RobotCell, oracles: Oracles, name: str, seed: int, split: str, policy: Policy) -> tuple:
    record = run_episode(cell, load_task(name), seed, split, policy, oracles).to_dict()
    record.pop("latency")
    return record, world_state(cell)


@pytest.fixture(scope="module")
def references() -> dict:
    out = {}
    oracles = Oracles(disk=False)
    for name, seed, split, kind in EPISODES:
        with RobotCell() as cell:
            out[(name, seed, split, kind)] = episode(cell, oracles, name, seed, split, Looking(make(kind, oracles)))
    oracles.close()
    return out


@pytest.mark.slow
def test_one_cell_in_any_order_with_no_frames_and_cached_oracles_gives_the_reference_records(
        references, tmp_path, monkeypatch):
    draws = []
    draw = Camera.render
    monkeypatch.setattr(Camera, "render", lambda self, appearance: draws.append(1) or draw(self, appearance))
    with RobotCell() as cell:
        for order in (EPISODES, EPISODES[::-1]):
            oracles = Oracles(disk=tmp_path)  # a new one per pass: the second pass reads the first's results
            for name, seed, split, kind in order:
                got = episode(cell, oracles, name, seed, split, make(kind, oracles))
                assert got == references[(name, seed, split, kind)], (name, seed, split, kind)
                assert not cell.visual
            oracles.close()
    assert not draws  # no policy here looked, so no frame was drawn
    assert oracles.counts["computed"] == 0 and oracles.counts["disk"] > 0  # the second pass: all from disk


def test_a_scene_built_without_visual_meshes_cannot_be_drawn():
    task = load_task("shift")
    with RobotCell() as cell:
        cell.load(task.sample(0).scene, visual=False)
        with pytest.raises(RuntimeError, match="without visual meshes"):
            cell.render()
        cell.load(task.sample(0).scene)
        assert cell.render().shape == (224, 224, 3)
