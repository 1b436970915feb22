"""`physgen run`, the README's main job, at a tiny scale: every stage, the evaluation over the ROS 2
graph (two graphs at once, in processes and domains of their own, each serving every policy and
split on its share of the scenes) with one bag per graph holding all its episodes, the report; run
again, nothing is run or counted twice."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from ros_helpers import process_env


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from physgen.models.hub import offline
    from physgen.models.recipes import build_model, load_recipe

    offline()
    return build_model(load_recipe("tiny-qwen2-vl"), tmp_path_factory.mktemp("model") / "tiny", seed=0)


@pytest.mark.slow
def test_physgen_run_trains_evaluates_over_the_graph_records_and_reports(ros_context, tiny_model_dir, tmp_path):
    from physgen.recording.bag import bag_info

    doc = {"out": str(tmp_path / "elsewhere"), "model": "not-used", "source_tasks": ["fall_direction"],
           "seeds": [0], "pretrain": {"steps": 2, "examples": 4}, "sft": {"steps": 2, "examples": 4},
           "grpo": {"steps": 2, "examples": 4, "num_generations": 2, "reward_workers": 0},
           "eval": {"tasks": ["fall_direction", "stability"], "episodes": 1, "source_episodes": 2,
                    "splits": ["train", "heldout"], "via": "ros", "record": True, "workers": 2,
                    "seed_scenes": "all"},
           "reward": {"scenes": 0}, "ground_truth": {"towers": 0}}
    config = tmp_path / "study.yaml"
    config.write_text(json.dumps(doc))
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "physgen.cli", "run", "--config", str(config),
                           "--model", str(tiny_model_dir), "--out", str(out)],
                          env=process_env(ros_context.get_domain_id()), capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"report: {out / 'eval' / 'report.html'}" in proc.stdout
    for row in ("base", "sft_fall_direction", "grpo_fall_direction", "expert", "chance"):
        assert row in proc.stdout
    assert not (tmp_path / "elsewhere").exists()
    results = json.loads((out / "eval" / "results.json").read_text())
    assert results["episodes"] == 5 * 2 * 3
    assert sorted(p.name for p in (out / "bags").iterdir()) == ["ros-0", "ros-1"]
    counts = []
    for bag in (out / "bags").iterdir():  # one graph per worker, every policy and split: all its episodes in its bag
        topics = bag_info(bag)["topics"]
        counts.append(topics["/evaluation/episode"]["count"])
        assert topics["/evaluation/summary"]["count"] == 1
    assert sorted(counts) == [15, 15]  # 6 scenes dealt 3 and 3, 5 policies each
    assert (out / "eval" / "report.html").stat().st_size > 0
    again = subprocess.run([sys.executable, "-m", "physgen.cli", "run", "--config", str(config),
                            "--model", str(tiny_model_dir), "--out", str(out)],
                           env=process_env(ros_context.get_domain_id()), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]  # everything done: nothing run or counted twice
    assert json.loads((out / "eval" / "results.json").read_text())["episodes"] == 5 * 2 * 3
    assert len((out / "eval" / "episodes.jsonl").read_text().splitlines()) == 5 * 2 * 3


def test_graph_workers_get_domains_of_their_own():
    from physgen.evaluation.workers import worker_domains

    for base in (0, 1, 57, 99, 100):
        domains = worker_domains(3, base)
        assert len(set(domains)) == 3 and base not in domains and all(1 <= d <= 100 for d in domains)


def test_the_main_job_keeps_its_graph_on_this_machine_unless_told_otherwise(monkeypatch):
    from physgen.evaluation.workers import local_graph

    monkeypatch.delenv("ROS_AUTOMATIC_DISCOVERY_RANGE", raising=False)
    monkeypatch.delenv("ROS_DOMAIN_ID", raising=False)
    chosen = local_graph()
    assert chosen["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" and 1 <= int(chosen["ROS_DOMAIN_ID"]) <= 100
    monkeypatch.setenv("ROS_DOMAIN_ID", "42")
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    assert local_graph() == {}
    import os

    assert os.environ["ROS_DOMAIN_ID"] == "42" and os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"
