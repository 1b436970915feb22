"""`physgen study`: the whole protocol at a tiny scale, then again with every stage skipped."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from physgen.policy.hub import offline
    from physgen.policy.recipes import build_model, load_recipe

    offline()
    return build_model(load_recipe("tiny-qwen2-vl"), tmp_path_factory.mktemp("model") / "tiny", seed=0)


@pytest.mark.slow
def test_a_tiny_study_runs_every_stage_and_skips_them_when_done(tiny_model_dir, tmp_path):
    from physgen.study import StudyConfig, run_study

    doc = {"out": str(tmp_path / "study"), "model": str(tiny_model_dir), "source_tasks": ["fall_direction"],
           "pretrain": {"steps": 2, "examples": 4}, "sft": {"steps": 2, "examples": 4},
           "grpo": {"steps": 1, "examples": 2, "num_generations": 2, "reward_workers": 0},
           "eval": {"tasks": ["fall_direction", "stability"], "episodes": 2, "source_episodes": 3,
                    "splits": ["train"]},
           "probe": {"tasks": ["fall_direction"], "scenes": 10}}
    path = tmp_path / "study.yaml"
    path.write_text(json.dumps(doc))  # YAML is a superset of JSON
    results, matrix = run_study(StudyConfig.load(path), progress=False)
    assert matrix.rows == ["base", "sft_fall_direction", "grpo_fall_direction", "expert", "chance"]
    assert {c.n for (r, c_), c in matrix.cells.items() if c_ == "fall_direction"} == {3}
    assert {c.n for (r, c_), c in matrix.cells.items() if c_ == "stability"} == {2}
    assert len(results["probes"]) == 3 and len(results["training"]) == 3
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "study").rglob("model.safetensors")}
    again, _ = run_study(StudyConfig.load(path), progress=False)  # everything done: nothing trained again
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps and again["episodes"] == results["episodes"]


def test_a_bad_study_value_names_it(tmp_path):
    from physgen.config import ConfigError
    from physgen.study import StudyConfig

    path = tmp_path / "study.yaml"
    path.write_text("out: x\neval:\n  via: carrier-pigeon\n")
    with pytest.raises(ConfigError, match="via"):
        StudyConfig.load(path)
    path.write_text("out: x\nsft:\n  steps: 0\n")
    with pytest.raises(ConfigError, match="grpo.steps"):
        StudyConfig.load(path)


def test_the_installed_study_files_load():
    from pathlib import Path

    from physgen.study import StudyConfig

    config = Path(__file__).resolve().parents[2] / "config"
    cfg = StudyConfig.load(config / "study.yaml")
    assert cfg.source_tasks == ("fall_direction", "stability", "shift") and cfg.grpo.reward_workers == 2
    quick = StudyConfig.load(config / "study_quick.yaml")
    assert quick.eval.via == "ros" and quick.eval.record and quick.source_tasks == ("fall_direction",)
