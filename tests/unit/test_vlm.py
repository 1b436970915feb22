"""The transformers policy on tiny models of real architectures, answering real rendered frames; and
the codec never raising on whatever a model says."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from physgen.config import ConfigError
from physgen.policy.vlm import TransformersPolicy, VLMConfig
from physgen.tasks import load_task, task_names
from physgen.tasks.codec import REASONS, parse

TINY_RECIPES = ("tiny-qwen2-vl", "tiny-idefics3")  # as in conftest.py


@pytest.fixture(scope="module", params=TINY_RECIPES)
def policy(request, tiny_models):
    p = TransformersPolicy(VLMConfig(model=str(tiny_models[request.param]), batch_size=3))
    yield p
    p.close()


def test_answers_a_real_frame_with_text(policy, vlm_observations):
    obs = vlm_observations[0]
    assert obs.image.shape == (224, 224, 3) and obs.image.dtype == np.uint8
    text = policy.act(obs)
    assert isinstance(text, str)
    assert parse(text, obs.answer_format).reason in REASONS
    d = policy.describe()
    assert d["device"] == "cpu" and d["dtype"] == "float32" and d["config"]["trust_remote_code"] is False


def test_greedy_is_deterministic_and_batching_does_not_change_it(policy, vlm_observations):
    single = [policy.act(o) for o in vlm_observations]
    assert [policy.act(o) for o in vlm_observations] == single
    assert policy.act_batch(vlm_observations) == single  # batches of 3 and 1, left-padded
    assert policy.act_batch([]) == []


def test_sampling_is_reproducible_with_its_seed(policy, vlm_observations):
    def sampler(seed):
        cfg = dataclasses.replace(policy.config, do_sample=True, temperature=1.5, seed=seed)
        return TransformersPolicy(cfg)

    a, b, c = sampler(7), sampler(7), sampler(8)
    first = [a.act(o) for o in vlm_observations]
    assert [a.act(o) for o in vlm_observations] == first  # same observation, same sample
    assert [b.act(o) for o in vlm_observations] == first  # same seed, another instance
    assert [c.act(o) for o in vlm_observations] != first
    for p in (a, b, c):
        p.close()


@pytest.mark.parametrize("image", [
    np.zeros((224, 224, 3), np.float32),
    np.zeros((224, 224), np.uint8),
    np.zeros((224, 224, 4), np.uint8),
    np.zeros((4, 4, 3), np.uint8),
    [[0, 0, 0]],
], ids=["float", "grey", "rgba", "tiny", "list"])
def test_a_malformed_image_is_a_clear_value_error(policy, vlm_observations, image):
    obs = dataclasses.replace(vlm_observations[0], image=image)
    with pytest.raises(ValueError, match=r"expected .*uint8 array of shape \(H, W, 3\)"):
        policy.act(obs)


def test_config_is_validated_and_remote_code_stays_off():
    assert VLMConfig(model="m").trust_remote_code is False
    assert VLMConfig.from_dict({"model": "m", "max_new_tokens": 4}).max_new_tokens == 4
    for field, value in [("max_new_tokens", 0), ("top_p", 0.0), ("temperature", -1.0), ("device", "gpu"),
                         ("dtype", "int8"), ("batch_size", 0), ("do_sample", "yes")]:
        with pytest.raises(ConfigError) as e:
            VLMConfig.from_dict({"model": "m", field: value})
        assert e.value.name == f"vlm.{field}" and e.value.value == value
    with pytest.raises(ConfigError, match="vlm.temprature"):
        VLMConfig.from_dict({"model": "m", "temprature": 0.5})


def test_the_codec_never_raises_on_random_text_from_a_model_tokenizer(tiny_models):
    """A few thousand strings decoded from random token ids (special tokens included), plus known
    garbage, parsed under every task's answer format."""
    from physgen.models.processor import load_processor

    tok = load_processor(tiny_models["tiny-qwen2-vl"]).tokenizer
    rng = np.random.default_rng(0)
    texts = [tok.decode(rng.integers(0, len(tok), int(rng.integers(0, 24))).tolist(),
                        skip_special_tokens=bool(i % 2)) for i in range(3000)]
    noise = rng.integers(0, 0x2FFF, 10_000)
    texts += ["", " ", "\n\t", "".join(map(chr, noise[noise > 31])), "9" * 5000, "-" * 400 + "1", "1e309",
              "Antwort: ja", "答案：是", "ответ: нет", "yes no", "12 -3 99999", "+−5", "NaN", "\x00\x01", "3.5"]
    formats = [load_task(t).answer_format for t in task_names()]
    reasons = set()
    for text in texts:
        for fmt in formats:
            reasons.add(parse(text, fmt).reason)
    assert reasons <= set(REASONS) and "empty" in reasons and "no_answer" in reasons
