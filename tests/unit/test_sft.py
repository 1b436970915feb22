"""SFT with TRL on a tiny real model: answer-only loss, the saved model reproduces the logged answers,
a run killed after a checkpoint resumes from it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from physgen.training.sft_config import SFTRunConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    """A small stability dataset, built once and copied into each run directory."""
    from physgen.training import datasets as tds

    out = tmp_path_factory.mktemp("sft-data") / "dataset"
    cfg = SFTRunConfig(task="stability", model="x", out=out.parent, examples=12)
    tds.build(["stability"], cfg.dataset_seeds, out)
    return out


def _run_dir(tmp_path: Path, dataset_dir: Path, name: str) -> Path:
    import shutil

    out = tmp_path / name
    shutil.copytree(dataset_dir, out / "dataset")
    return out


@pytest.mark.parametrize("recipe", ["tiny-qwen2-vl", "tiny-idefics3"])
def test_labels_cover_the_answer_only(tiny_models, dataset_dir, recipe):
    from physgen.models.processor import load_processor
    from physgen.training import datasets as tds
    from physgen.training.collate import AnswerOnlyCollator

    processor = load_processor(tiny_models[recipe])
    rows = [tds.load(dataset_dir)[i] for i in range(3)]
    batch = AnswerOnlyCollator(processor)(rows)
    for i, row in enumerate(rows):
        ids = batch["input_ids"][i][batch["labels"][i] != -100]
        text = processor.tokenizer.decode(ids, skip_special_tokens=True).strip()
        assert text == row["answer"]
        assert (batch["labels"][i][batch["attention_mask"][i] == 0] == -100).all()


@pytest.mark.parametrize("lora", [False, True])
def test_sft_saves_a_model_the_policy_loads_and_reproduces(tiny_models, dataset_dir, tmp_path, lora):
    from physgen.training.sft import train_sft

    out = _run_dir(tmp_path, dataset_dir, "run")
    cfg = SFTRunConfig(task="stability", model=str(tiny_models["tiny-qwen2-vl"]), out=out, steps=4, examples=12,
                       lora=lora, batch_size=4, save_steps=2, logging_steps=1, sample_answers=4,
                       learning_rate=1e-3)
    final = train_sft(cfg, progress=False)
    assert (final / "config.json").is_file() and (out / "physgen_sft.json").is_file()
    logged = [json.loads(ln) for ln in (out / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in logged if "loss" in r]
    assert len(losses) == 4 and all(x > 0 for x in losses)
    assert json.loads((out / "physgen_sft.json").read_text())["lora"] is lora

    from physgen.policy.vlm import TransformersPolicy, VLMConfig
    from physgen.training import datasets as tds
    from physgen.training.sft import sample_observations

    samples = [json.loads(ln) for ln in (out / "samples.jsonl").read_text().splitlines()]
    policy = TransformersPolicy(VLMConfig(model=str(final)))
    try:
        for obs, s in zip(sample_observations(tds.load(out / "dataset"), len(samples))[1], samples):
            assert policy.act(obs) == s["answer"]
    finally:
        policy.close()


def _train_cmd(model: Path, out: Path, steps: int) -> list[str]:
    return [sys.executable, "-m", "physgen.cli", "train", "sft", "--task", "stability", "--model", str(model),
            "--steps", str(steps), "--examples", "12", "--full", "--batch-size", "2", "--save-steps", "10",
            "--out", str(out)]


@pytest.mark.slow
def test_resume_after_kill_matches_an_uninterrupted_run(tiny_models, dataset_dir, tmp_path):
    model = tiny_models["tiny-qwen2-vl"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    whole = _run_dir(tmp_path, dataset_dir, "whole")
    subprocess.run(_train_cmd(model, whole, 40), check=True, env=env, capture_output=True, timeout=600)

    killed = _run_dir(tmp_path, dataset_dir, "killed")
    proc = subprocess.Popen(_train_cmd(model, killed, 40), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (killed / "checkpoints" / "checkpoint-10" / "trainer_state.json").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "model").exists()
    subprocess.run(_train_cmd(model, killed, 40), check=True, env=env, capture_output=True, timeout=600)

    def logged_steps(out: Path) -> list[int]:
        rows = [json.loads(ln) for ln in (out / "log.jsonl").read_text().splitlines()]
        return [r["step"] for r in rows if "loss" in r]

    # the resumed run continued from checkpoint 10: no step trained twice, none skipped
    assert logged_steps(killed) == logged_steps(whole) == list(range(5, 41, 5))
    state = json.loads((killed / "checkpoints" / "checkpoint-40" / "trainer_state.json").read_text())
    assert state["global_step"] == 40
    assert (killed / "model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_a_tiny_model_learns_to_read_the_image(tiny_models, tmp_path):
    """fall_direction answers are left/right half the time each, so a model blind to the image
    cannot push the answer loss below the prior (ln 2 over the 3 label tokens, about 0.23)."""
    from physgen.training.sft import train_sft

    cfg = SFTRunConfig(task="fall_direction", model=str(tiny_models["tiny-qwen2-vl"]), out=tmp_path / "run",
                       steps=400, examples=64, lora=False, learning_rate=3e-4, batch_size=8, save_steps=1000,
                       logging_steps=10, sample_answers=0)
    train_sft(cfg, progress=False)
    rows = [json.loads(ln) for ln in (cfg.out / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert sum(losses[-5:]) / 5 < 0.5 * 0.23


@pytest.mark.parametrize("source", ["captions", "fall_direction"])
def test_a_dataset_built_by_two_processes_equals_one_built_by_one(source):
    from physgen.training import datasets as tds

    seeds = [100000 + i for i in range(7)]
    one = tds.rows_in_processes(source, seeds, workers=1)
    counted = []
    two = tds.rows_in_processes(source, seeds, workers=2, chunk=3, progress=counted.append)
    assert counted == [3, 3, 1]
    assert [{**r, "image": r["image"].tobytes()} for r in one] == [{**r, "image": r["image"].tobytes()} for r in two]
