"""benchmarks/bench_gpu.py: its tiny CPU path end to end (real tiny model, real TRL trainers), its
refusals, and the realistic-size recipes it builds on a GPU: Qwen2.5-VL-3B's and 7B's sizes, checked
on the meta device (no memory, no weights)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from physgen.models.architectures import architecture
from physgen.models.recipes import load_recipe, model_config

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_gpu.py"
STAGES = ["build", "policy", "sft", "grpo"]


def run_bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The benchmark as a user runs it, with every GPU hidden (so the refusal holds on a GPU machine)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def message(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("bench_gpu.py:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.slow
def test_tiny_cpu_path_runs_every_stage_with_positive_throughput(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_bench("--tiny", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads(out.read_text())
    assert res["device"] == "cpu" and res["recipe"] == "qwen2.5-vl-tiny-random"
    assert res["architecture"] == "qwen2_5_vl"
    stages = res["stages"]
    assert list(stages) == STAGES
    for name, s in stages.items():
        assert s["rate"] > 0 and s["timed_s"] > 0 and s["wall_s"] >= s["timed_s"], name
        assert s["peak_gpu_gib"] is None, name  # no GPU: n/a, not zero
    p, sft, grpo = stages["policy"], stages["sft"], stages["grpo"]
    assert stages["build"]["unit"] == "params/s" and stages["build"]["params"] > 0
    assert p["unit"] == "tokens/s" and 0 < p["new_tokens"] <= p["answers"] * p["max_new_tokens"]
    assert p["answers_per_s"] > 0
    assert sft["unit"] == "samples/s" and sft["lora_rank"] == 16 and len(sft["step_s"]) == sft["steps"]
    assert sft["tokens_per_s"] > 0
    assert grpo["unit"] == "completions/s" and grpo["completions"] == 16 and grpo["lora_rank"] == 16
    assert len(grpo["step_s"]) == grpo["steps"] and grpo["generation"] == "hf"
    assert all(grpo[k] is not None and grpo[k] >= 0 for k in ("generation_s", "reward_s", "update_s"))
    table = proc.stdout
    for name in STAGES:
        assert f"   {name} " in table, table
    assert "qwen2.5-vl-tiny-random" in table and "total wall time" in table


def test_without_cuda_it_refuses_in_one_line_and_names_the_cpu_path():
    proc = run_bench(timeout=120)
    assert proc.returncode == 2
    line = message(proc)
    assert "CUDA is not available" in line and "--tiny" in line and "qwen2.5-vl-3b-random" in line
    assert proc.stdout == ""


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_without_vllm_is_refused():
    proc = run_bench("--tiny", "--vllm", timeout=120)
    assert proc.returncode == 2
    assert "--vllm needs vllm" in message(proc)


def test_vllm_mode_is_valid_trl_arguments_for_the_run_and_only_inside_its_block(tmp_path, monkeypatch):
    """--vllm adds TRL's colocate-mode arguments to train_grpo's; the installed TRL must accept them."""
    from trl import GRPOConfig

    from physgen.training import grpo
    from physgen.training.grpo_config import GRPORunConfig

    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import bench_gpu

    cfg = GRPORunConfig(task="stability", model="qwen2.5-vl-tiny-random", out=tmp_path)
    plain = grpo.trl_args(cfg, False)
    with bench_gpu.vllm_colocate():
        args = grpo.trl_args(cfg, False)
    assert args == {**plain, "use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3,
                    "vllm_max_model_length": 4096}
    made = GRPOConfig(**args)
    assert made.use_vllm and made.vllm_mode == "colocate" and made.num_generations == 16
    assert grpo.trl_args(cfg, False) == plain


def test_tiny_refuses_the_gpu_recipes():
    proc = run_bench("--tiny", "--model", "7b", timeout=120)
    assert proc.returncode == 2 and "--tiny runs on the CPU" in proc.stderr


# --- the realistic-size recipes ------------------------------------------------------------------

# Parameters of the real checkpoints (the Hub's safetensors totals): 3.75 B and 8.29 B.
REAL = {"qwen2.5-vl-3b-random": dict(params=3.755e9, hidden=2048, layers=36, heads=16, kv=2, mlp=11008,
                                     vocab=151936, tied=True),
        "qwen2.5-vl-7b-random": dict(params=8.292e9, hidden=3584, layers=28, heads=28, kv=4, mlp=18944,
                                     vocab=152064, tied=False)}


@pytest.mark.parametrize("name", sorted(REAL))
def test_realistic_recipes_have_the_real_sizes(name):
    import torch

    want = REAL[name]
    recipe = load_recipe(name)
    assert recipe.tiny and recipe.architecture == "qwen2_5_vl"
    config, tokenizer = model_config(recipe)
    t, v = config.text_config, config.vision_config
    assert (t.hidden_size, t.num_hidden_layers, t.num_attention_heads, t.num_key_value_heads,
            t.intermediate_size, t.vocab_size) == (want["hidden"], want["layers"], want["heads"], want["kv"],
                                                   want["mlp"], want["vocab"])
    assert t.rope_parameters["rope_theta"] == 1e6 and t.rope_parameters["mrope_section"] == [16, 24, 24]
    assert config.tie_word_embeddings is want["tied"]
    assert (v.depth, v.hidden_size, v.num_heads, v.intermediate_size, v.patch_size, v.spatial_merge_size,
            v.window_size, list(v.fullatt_block_indexes), v.out_hidden_size) == (
        32, 1280, 16, 3420, 14, 2, 112, [7, 15, 23, 31], want["hidden"])
    assert t.vocab_size > len(tokenizer)  # the real embedding's rows, past the trained tokenizer's
    with torch.device("meta"):  # no memory: shapes only
        model = architecture(recipe.architecture).model_class()._from_config(config)
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - want["params"]) / want["params"] < 0.002, n
    assert (model.lm_head.weight is model.get_input_embeddings().weight) is want["tied"]


def test_realistic_recipe_makes_64_image_tokens_of_a_224_frame():
    recipe = load_recipe("qwen2.5-vl-3b-random")
    arch = architecture(recipe.architecture)
    _, tokenizer = model_config(recipe)
    proc = arch.processor(recipe, arch.image_processor(recipe), tokenizer)
    frame = Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Will it fall?"}]}]
    text = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    enc = proc(images=[[frame]], text=[text], return_tensors="pt")
    assert enc["image_grid_thw"][0].tolist() == [1, 16, 16]
    assert enc["input_ids"][0].tolist().count(tokenizer.convert_tokens_to_ids("<|image_pad|>")) == 64
    assert arch.image_tokens(recipe) == 64
