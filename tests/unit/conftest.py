"""Shared fixtures: one real robot cell and one oracle service per test module, closed afterwards."""

from __future__ import annotations

import pytest

from physgen.cell.cell import RobotCell
from physgen.tasks.oracle import Oracles


@pytest.fixture(scope="module")
def cell():
    with RobotCell() as c:
        yield c


@pytest.fixture(scope="module")
def oracles():
    o = Oracles()
    yield o
    o.close()


# --- tiny VLMs of real architectures (test_models.py, test_vlm.py) ---------------------------------

TINY_RECIPES = ("tiny-qwen2-vl", "tiny-idefics3")
VLM_EPISODES = (("stability", 0), ("shift", 1), ("placement", 2), ("remove", 3))


@pytest.fixture(scope="session", autouse=True)
def hf_offline():
    """Tests never reach the Hugging Face Hub: HF_HUB_OFFLINE=1 and TRANSFORMERS_OFFLINE=1."""
    from physgen.models.hub import offline

    offline()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Each tiny recipe built once (seed 0) into a temporary directory: {recipe name: model dir}."""
    from physgen.models.recipes import build_model, load_recipe

    root = tmp_path_factory.mktemp("tiny-models")
    return {name: build_model(load_recipe(name), root / name, seed=0) for name in TINY_RECIPES}


@pytest.fixture(scope="session")
def vlm_observations():
    """Observations of real rendered frames, one per task in VLM_EPISODES (prompts of different lengths)."""
    from physgen.cell.cell import RobotCell
    from physgen.evaluation.episode import begin, observation
    from physgen.tasks import load_task

    out = []
    with RobotCell() as c:
        for name, seed in VLM_EPISODES:
            task = load_task(name)
            inst, image = begin(c, task, seed, "train")
            out.append(observation(task, inst, image))
    return out
