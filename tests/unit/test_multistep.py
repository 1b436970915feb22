"""Multi-step GRPO: a conversation's tokens are exactly what the chat template renders, the rollouts
go on after failed attempts, and a config without room for a second attempt is refused."""

from __future__ import annotations

import json

import pytest


def test_a_conversation_tokenizes_as_the_chat_template_renders_it(tiny_models):
    from PIL import Image

    from physgen.models.processor import load_processor
    from physgen.policy.vlm import user_turn
    from physgen.training.multistep import feedback, first_prompt_ids, turn_suffix

    proc = load_processor(tiny_models["tiny-qwen2-vl"])
    tok = proc.tokenizer
    prompt = "Which way will the tower fall? Answer left or right."
    first, second = Image.new("RGB", (64, 64), "red"), Image.new("RGB", (64, 64), "blue")
    again = feedback(prompt, 2, 3)
    answer = tok.encode("left", add_special_tokens=False)
    ids = first_prompt_ids(proc, prompt, first) + answer + [tok.eos_token_id]
    ids += proc(images=[[second]], text=[turn_suffix(proc, again, ended=True)])["input_ids"][0]
    ids += tok.encode("right", add_special_tokens=False) + [tok.eos_token_id]
    said = [{"role": "assistant", "content": [{"type": "text", "text": t}]} for t in ("left", "right")]
    text = proc.apply_chat_template([user_turn(prompt), said[0], user_turn(again), said[1]], tokenize=False)
    full = proc(images=[[first, second]], text=[text])["input_ids"][0]
    assert full[:len(ids)] == ids and tok.decode(full[len(ids):]) == "\n"
    # a truncated answer (no EOS generated): the environment's turn closes the assistant turn itself
    assert turn_suffix(proc, again, ended=False) == tok.eos_token + turn_suffix(proc, again, ended=True)


def test_multi_step_needs_room_for_a_second_attempt(tmp_path):
    from physgen.config import ConfigError
    from physgen.training.grpo_config import GRPORunConfig

    with pytest.raises(ConfigError, match="attempts"):
        GRPORunConfig(task="fall_direction", model="m", out=tmp_path, mode="multi-step", attempts=1)
    assert GRPORunConfig(task="fall_direction", model="m", out=tmp_path, mode="one-step", attempts=1).attempts == 1


@pytest.mark.slow
def test_multi_step_rollouts_go_on_after_failed_attempts(tiny_models, tmp_path):
    from physgen.training.grpo import train_grpo
    from physgen.training.grpo_config import GRPORunConfig

    cfg = GRPORunConfig(task="fall_direction", model=str(tiny_models["tiny-qwen2-vl"]), out=tmp_path, steps=2,
                        examples=2, num_generations=4, max_completion_length=6, learning_rate=1e-3,
                        reward_workers=0, save_steps=10, mode="multi-step", attempts=3)
    train_grpo(cfg, progress=False)
    log = [json.loads(ln) for ln in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    for r in log:
        # every executed answer counted once; a rollout stops at its first success or its third answer
        per_rollout = [s.split(" | ") for s in r["samples"]]
        assert sum(r["reasons"].values()) == sum(len(a) for a in per_rollout) == round(4 * r["attempts_mean"])
        assert all(1 <= len(a) <= 3 for a in per_rollout)
        assert r["first_attempt_success_rate"] <= r["success_rate"]
        assert "loss" in r and "kl" in r
