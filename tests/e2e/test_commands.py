"""The README's commands on a small scale, run as a user would: the installed ``physgen`` command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def physgen(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = shutil.which("physgen", path=str(Path(sys.executable).parent)) or shutil.which("physgen")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "physgen.cli", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_readme_has_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "<!-- main-command -->" in text and "<!-- test-command -->" in text
    assert "physgen run" in text and "pytest" in text


def test_tasks_lists_one_line_per_task():
    from physgen.tasks import task_names

    lines = physgen("tasks").stdout.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == task_names()


def test_render_writes_the_model_image(tmp_path):
    from physgen.cell.cell import RobotCell
    from physgen.evaluation.episode import begin
    from physgen.tasks import load_task

    out = tmp_path / "f.png"
    physgen("render", "--task", "shift", "--seed", "5", "--out", str(out))
    written = Image.open(out)
    assert written.size == (224, 224)
    with RobotCell() as cell:
        _, image = begin(cell, load_task("shift"), 5, "train")
    assert (written.tobytes()) == image.tobytes()


def test_rollout_prints_success_with_interval(tmp_path):
    out = tmp_path / "eps.jsonl"
    proc = physgen("rollout", "--policy", "expert", "--task", "stability", "--episodes", "3", "--seed", "1",
                   "--out", str(out))
    assert "success 3/3" in proc.stdout and "95% Wilson" in proc.stdout
    records = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert [r["seed"] for r in records] == [1, 2, 3]
    assert all(r["success"] and r["version"] == 1 for r in records)


def test_bad_config_fails_at_start_naming_the_value(tmp_path):
    bad = tmp_path / "cell.yaml"
    bad.write_text("physics:\n  timestep: -0.1\n")
    proc = physgen("render", "--task", "shift", "--out", str(tmp_path / "x.png"), "--cell-config", str(bad),
                   check=False)
    assert proc.returncode == 2
    assert "physics.timestep=-0.1" in proc.stderr and "expected" in proc.stderr
    proc = physgen("rollout", "--task", "nope", check=False)
    assert proc.returncode == 2 and "'nope'" in proc.stderr and "stability" in proc.stderr
    proc = physgen("eval", "--policy", "chance", "--tasks", "stability", "--episodes", "1", "--out",
                   str(tmp_path / "never"), "--format-threshold", "2", check=False)
    assert proc.returncode == 2 and "format_threshold=2.0" in proc.stderr and not (tmp_path / "never").exists()


@pytest.mark.slow
def test_suite_small(tmp_path):
    proc = physgen("suite", "--episodes", "1", "--tasks", "stability,shift", "--ground-truth", "10",
                   "--out", str(tmp_path / "run"))
    assert "stability" in proc.stdout and "report:" in proc.stdout
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["version"] == 1
    rows = {(r["policy"], r["task"], r["split"]): r for r in report["results"]}
    assert len(rows) == 2 * 2 * 2
    assert rows[("expert", "shift", "train")]["success_rate"] == 1.0
    assert report["ground_truth"]["towers"] == 10
    assert report["physics"]["timestep"] > 0
    for name in ("report.md", "summary.csv", "episodes.jsonl"):
        assert (tmp_path / "run" / name).stat().st_size > 0


def test_model_list_and_build(tmp_path):
    listed = physgen("model", "list").stdout
    assert "tiny-qwen2-vl" in listed and "tiny-idefics3" in listed and "[hub]" in listed
    out = tmp_path / "m"
    proc = physgen("model", "build", "tiny-qwen2-vl", "--out", str(out))
    assert "built tiny-qwen2-vl" in proc.stdout
    assert (out / "config.json").is_file() and (out / "physgen_recipe.yaml").is_file()


def test_vlm_policy_needs_a_model():
    proc = physgen("rollout", "--policy", "vlm", "--task", "stability", "--episodes", "1", check=False)
    assert proc.returncode == 2 and "model" in proc.stderr


@pytest.mark.slow
def test_grpo_runs_unchanged_under_accelerate_launch(tmp_path):
    """`accelerate launch` (one CPU process here; the same command spreads over GPUs) runs the same
    `physgen train grpo`."""
    from physgen.models.recipes import build_model, load_recipe

    model = build_model(load_recipe("tiny-qwen2-vl"), tmp_path / "tiny", seed=0)
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert accelerate, "accelerate comes with the vlm extra"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = tmp_path / "grpo"
    subprocess.run([accelerate, "launch", "--cpu", "--num_processes", "1", "--num_machines", "1",
                    "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "physgen.cli", "train", "grpo",
                    "--task", "fall_direction", "--model", str(model), "--steps", "2", "--examples", "2",
                    "--num-generations", "2", "--max-completion-length", "4", "--reward-workers", "0",
                    "--out", str(out)], check=True, env=env, capture_output=True, timeout=600)
    assert [json.loads(ln)["step"] for ln in (out / "log.jsonl").read_text().splitlines()] == [1, 2]
    assert (out / "model" / "model.safetensors").is_file()
