"""`physgen study`: the whole protocol at a tiny scale, then again with every stage skipped."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from physgen.models.hub import offline
    from physgen.models.recipes import build_model, load_recipe

    offline()
    return build_model(load_recipe("tiny-qwen2-vl"), tmp_path_factory.mktemp("model") / "tiny", seed=0)


@pytest.mark.slow
def test_a_tiny_study_runs_every_stage_and_skips_them_when_done(tiny_model_dir, tmp_path):
    import shutil

    from physgen.config import ConfigError
    from physgen.evaluation.shards import Shard
    from physgen.experiments.study import StudyConfig, evaluate_shard, run_study

    doc = {"out": str(tmp_path / "study"), "model": str(tiny_model_dir), "source_tasks": ["fall_direction"],
           "seeds": [0, 1], "conditions": ["sft", "grpo", "sft_grpo", "loo"],
           "pretrain": {"steps": 2, "examples": 8}, "sft": {"steps": 2, "examples": 4, "rehearsal": 0.5},
           "grpo": {"steps": 2, "examples": 4, "num_generations": 2, "reward_workers": 0, "rehearsal": 0.5},
           "loo": {"steps": 2, "examples": 2, "tasks": ["stability"]},
           "eval": {"tasks": ["fall_direction", "stability"], "episodes": 2, "source_episodes": 4,
                    "splits": ["train", "heldout"], "heldout_tasks": ["fall_direction"], "workers": 2},
           "reward": {"scenes": 2, "samples": 2}, "ground_truth": {"towers": 4},
           "probe": {"tasks": ["fall_direction"], "scenes": 10, "rows": ["base", "sft_fall_direction"]},
           "efficiency": {"task": "stability", "max_steps": 2, "eval_every": 1, "episodes": 2, "examples": 4}}
    path = tmp_path / "study.yaml"
    path.write_text(json.dumps(doc))  # YAML is a superset of JSON
    with pytest.raises(ConfigError, match="train first"):  # an evaluation shard never trains
        evaluate_shard(StudyConfig.load(path), Shard(0, 2), progress=False)
    results, matrix = run_study(StudyConfig.load(path), progress=False)
    assert matrix.rows == ["base", "sft_fall_direction", "grpo_fall_direction", "sft_grpo_fall_direction",
                           "loo_stability", "expert", "chance"]
    assert matrix.columns == ["fall_direction", "stability", "fall_direction (held-out)"]
    cells = matrix.cells
    # the base runs every scene, each of a trained row's two seeds half of them: pooled, the same n
    assert cells[("base", "fall_direction")].n == cells[("sft_fall_direction", "fall_direction")].n == 4
    assert cells[("sft_fall_direction", "fall_direction")].seeds == 2
    assert cells[("sft_fall_direction", "fall_direction")].paired == 4
    assert cells[("base", "stability")].n == 2 and ("base", "stability (held-out)") not in cells
    assert set(c for r, c in cells if r == "loo_stability") == {"stability"}  # evaluated on the task left out
    study = results["study"]
    assert len(study["rewards"]) == 4 and {d["start"] for d in study["rewards"]} == {
        "base", "sft_fall_direction.seed0", "sft_fall_direction.seed1"}
    assert study["ground_truth"]["towers"] == 4 and set(study["stages_s"]) >= {"pretrain", "evaluate", "report"}
    assert results["efficiency"] and len(results["probes"]) == 2
    assert len(results["training"]) == 1 + 4 * 2
    assert json.loads((tmp_path / "study" / "sft_fall_direction" / "seed1" / "physgen_sft.json").read_text())[
        "rehearsal"] == 0.5
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "study").rglob("model.safetensors")}
    again, _ = run_study(StudyConfig.load(path), progress=False)  # everything done: nothing trained again
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps and again["episodes"] == results["episodes"]

    # the evaluation handed to two shards (two machines), then the study takes their episodes in
    episodes = tmp_path / "study" / "eval" / "episodes.jsonl"
    whole = [_without_latency(line) for line in episodes.read_text().splitlines()]
    episodes.unlink()
    shutil.rmtree(tmp_path / "study" / "eval" / "parts")
    for i in range(2):
        shard_dir = evaluate_shard(StudyConfig.load(path), Shard(i, 2), progress=False)
        assert shard_dir.name == f"{i}-of-2" and (shard_dir / "episodes.jsonl").is_file()
    from physgen.experiments.study import collect_shards

    assert collect_shards(tmp_path / "study" / "eval") == len(whole)  # every episode came from a shard
    merged, _ = run_study(StudyConfig.load(path), progress=False)
    assert merged["episodes"] == results["episodes"]
    assert sorted(_without_latency(line) for line in episodes.read_text().splitlines()) == sorted(whole)


def _without_latency(line: str) -> str:
    record = json.loads(line)
    record.pop("latency")
    return json.dumps(record, sort_keys=True)


def test_a_bad_study_value_names_it(tmp_path):
    from physgen.config import ConfigError
    from physgen.experiments.study import StudyConfig

    path = tmp_path / "study.yaml"
    path.write_text("out: x\neval:\n  via: carrier-pigeon\n")
    with pytest.raises(ConfigError, match="via"):
        StudyConfig.load(path)
    path.write_text("out: x\nsft:\n  steps: 0\n")
    with pytest.raises(ConfigError, match="sft.steps"):
        StudyConfig.load(path)
    path.write_text("out: x\ngrpo:\n  steps: 7\n")  # SFT and GRPO from the base at matched budgets
    with pytest.raises(ConfigError, match="grpo.steps"):
        StudyConfig.load(path)
    path.write_text("out: x\nconditions: [grpo, sft_grpo]\n")
    with pytest.raises(ConfigError, match="conditions"):
        StudyConfig.load(path)
    path.write_text("out: x\neval:\n  via: ros\n  seed_scenes: share\n")  # a graph runs any plan: shares too
    assert StudyConfig.load(path).eval.via == "ros"
    path.write_text("out: x\nseeds: [1, 1]\n")
    with pytest.raises(ConfigError, match="seeds"):
        StudyConfig.load(path)


def test_the_installed_study_files_load():
    from pathlib import Path

    from physgen.experiments.study import StudyConfig

    config = Path(__file__).resolve().parents[2] / "config"
    cfg = StudyConfig.load(config / "study.yaml")
    assert set(cfg.conditions) == {"sft", "grpo", "sft_grpo", "loo"} and len(cfg.seeds) == 5
    assert cfg.sft.steps == cfg.grpo.steps and cfg.sft.examples == cfg.grpo.examples
    quick = StudyConfig.load(config / "study_quick.yaml")
    assert quick.source_tasks == ("shift",) and len(quick.seeds) >= 3 and {"sft", "grpo"} <= set(quick.conditions)
    assert quick.eval.episodes >= 30


@pytest.mark.slow
def test_the_full_design_of_study_yaml_runs_end_to_end_at_a_tiny_scale(tiny_model_dir, tmp_path):
    """config/study.yaml as it is (every condition, its seeds, every task on both splits, the analyses),
    only its budgets cut to a few steps and scenes."""
    from pathlib import Path

    import yaml

    from physgen.experiments.study import CONDITIONS, StudyConfig, run_study
    from physgen.tasks import task_names

    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "study.yaml").read_text())
    seeds = len(doc["seeds"])
    doc.update(out=str(tmp_path / "study"), model=str(tiny_model_dir))
    doc["pretrain"].update(steps=2, examples=12)
    doc["sft"].update(steps=2, examples=2)
    doc["grpo"].update(steps=2, examples=2, num_generations=2, reward_workers=0, max_completion_length=4)
    doc["loo"].update(steps=2, examples=1)
    doc["eval"].update(episodes=seeds, source_episodes=seeds)
    doc["reward"].update(scenes=2, samples=2)
    doc["ground_truth"].update(towers=4)
    doc["probe"].update(scenes=10)
    doc["efficiency"].update(max_steps=2, eval_every=1, episodes=2, examples=2)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(doc))
    cfg = StudyConfig.load(path)
    assert set(cfg.conditions) == set(CONDITIONS) and len(cfg.seeds) == 5
    results, matrix = run_study(cfg, progress=False)
    trained = [f"{c}_{t}" for t in cfg.source_tasks for c in ("sft", "grpo", "sft_grpo")]
    assert set(matrix.rows) == {"base", *trained, *(f"loo_{t}" for t in cfg.loo.tasks), "expert", "chance"}
    assert len(matrix.columns) == 2 * len(task_names())
    for (row, _col), cell in matrix.cells.items():
        assert cell.n == seeds and cell.seeds == (seeds if row not in ("base", "expert", "chance") else 1)
    assert len(results["study"]["rewards"]) == 2 * len(cfg.source_tasks) * seeds
    assert results["efficiency"] and results["probes"] and results["study"]["ground_truth"]
