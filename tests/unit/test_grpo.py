"""GRPO with the physics in the loop on a tiny model: the prompt is the policy's, the log carries the
reward, KL, parse failures and the step time split, the same seed repeats the same reward curve, and a
killed run resumes where it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("reward", "reward_std", "kl", "loss", "parse_failure_rate", "success_rate", "generation_s", "reward_s",
        "update_s", "reasons")


def test_trl_renders_the_prompt_exactly_as_the_policy_does(tiny_models):
    from PIL import Image
    from trl.data_utils import prepare_multimodal_messages

    from physgen.models.processor import load_processor
    from physgen.policy.vlm import chat_text

    processor = load_processor(tiny_models["tiny-qwen2-vl"])
    prompt = "Which way will the tower fall? Answer left or right."
    messages = prepare_multimodal_messages([{"role": "user", "content": prompt}], [Image.new("RGB", (32, 32))])
    as_trl = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert as_trl == chat_text(processor, prompt)


def _config(model, out: Path, steps: int, **kw):
    from physgen.training.grpo_config import GRPORunConfig

    return GRPORunConfig(task="fall_direction", model=str(model), out=out, steps=steps, examples=4,
                         num_generations=4, max_completion_length=6, learning_rate=1e-3, reward_workers=0,
                         save_steps=2, **kw)


def _log(out: Path) -> list[dict]:
    return [json.loads(ln) for ln in (out / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_grpo_logs_its_metrics_and_the_same_seed_repeats_the_curve(tiny_models, tmp_path):
    from physgen.policy.vlm import TransformersPolicy, VLMConfig
    from physgen.training.grpo import train_grpo

    model = tiny_models["tiny-qwen2-vl"]
    final = train_grpo(_config(model, tmp_path / "a", 3), progress=False)
    train_grpo(_config(model, tmp_path / "b", 3), progress=False)
    a, b = _log(tmp_path / "a"), _log(tmp_path / "b")
    assert [r["step"] for r in a] == [1, 2, 3]
    assert all(k in r for r in a for k in KEYS)
    assert all(sum(r["reasons"].values()) == 4 for r in a)  # every completion scored once
    assert [(r["reward"], r["loss"], r["samples"]) for r in a] == [(r["reward"], r["loss"], r["samples"]) for r in b]
    assert len({s for r in a for s in r["samples"]}) > 1  # sampled completions, repeated exactly
    policy = TransformersPolicy(VLMConfig(model=str(final), max_new_tokens=4))
    policy.close()
    assert json.loads((tmp_path / "a" / "physgen_grpo.json").read_text())["num_generations"] == 4


@pytest.mark.slow
def test_a_killed_grpo_run_resumes_and_matches_an_uninterrupted_one(tiny_models, tmp_path):
    model = tiny_models["tiny-qwen2-vl"]

    def cmd(out: Path) -> list[str]:
        return [sys.executable, "-m", "physgen.cli", "train", "grpo", "--task", "fall_direction", "--model",
                str(model), "--steps", "6", "--examples", "4", "--num-generations", "4",
                "--max-completion-length", "6", "--lr", "1e-3", "--reward-workers", "0", "--save-steps", "2",
                "--out", str(out)]

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(cmd(tmp_path / "whole"), check=True, env=env, capture_output=True, timeout=600)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while not (killed / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "model").exists()
    subprocess.run(cmd(killed), check=True, env=env, capture_output=True, timeout=600)
    whole, resumed = _log(tmp_path / "whole"), _log(killed)
    assert [r["step"] for r in resumed] == [r["step"] for r in whole] == list(range(1, 7))
    assert [(r["reward"], r["samples"]) for r in resumed] == [(r["reward"], r["samples"]) for r in whole]
    assert (killed / "model" / "model.safetensors").is_file()


def test_a_vllm_server_goes_to_trl_and_is_checked_at_start(tmp_path):
    from trl import GRPOConfig

    from physgen.config import ConfigError
    from physgen.training.grpo import train_grpo, trl_args

    cfg = _config("m", tmp_path, 1, vllm_server="http://gpu-box:8000/")
    args = GRPOConfig(**trl_args(cfg))
    assert (args.use_vllm, args.vllm_mode, args.vllm_server_base_url) == (True, "server", "http://gpu-box:8000")
    assert not GRPOConfig(**trl_args(_config("m", tmp_path, 1))).use_vllm
    for bad in ({"vllm_server": "gpu-box"}, {"vllm_server": "http://gpu-box:8000", "mode": "multi-step"}):
        with pytest.raises(ConfigError, match="vllm_server"):
            _config("m", tmp_path, 1, **bad)
    import importlib.util

    if importlib.util.find_spec("vllm") is None:  # as on CPU machines: the run stops before any work
        with pytest.raises(ConfigError, match="pip install vllm"):
            train_grpo(cfg, progress=False)
        assert not (tmp_path / "physgen_grpo.json").exists()
