"""Model recipes: tiny models of real architectures built locally, loaded back like Hub checkpoints;
their tokenizers, processors (and the image-only fallback), and local-only Hub presets."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import yaml
from PIL import Image

from physgen.config import ConfigError
from physgen.models import processor as processor_mod
from physgen.models.architectures import ARCHITECTURES
from physgen.models.hub import ModelNotFoundError
from physgen.models.processor import is_image_only, load_processor
from physgen.models.recipes import (
    BUILD_FILE,
    CACHE_ENV,
    RECIPE_FILE,
    build_model,
    load_recipe,
    recipe_names,
    resolve_model,
)
from physgen.models.tokenizer import SpecialTokens, canonical_answers, train_tokenizer
from physgen.resources import data_dir
from physgen.tasks import load_task, task_names

TINY_RECIPES = ("tiny-qwen2-vl", "tiny-idefics3")  # as in conftest.py
HUB_PRESET = "qwen2.5-vl-3b-instruct"
MODEL_CLASSES = {"tiny-qwen2-vl": "Qwen2VLForConditionalGeneration",
                 "tiny-idefics3": "Idefics3ForConditionalGeneration"}


def frame(seed: int, h: int = 224, w: int = 224) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def chat(proc, prompt: str) -> str:
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    return proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


# --- recipes ----------------------------------------------------------------------------------------

def test_shipped_recipes_load_and_validate():
    assert {*TINY_RECIPES, HUB_PRESET} <= set(recipe_names())
    for name in TINY_RECIPES:
        r = load_recipe(name)
        assert r.tiny and r.name == name and r.architecture in ARCHITECTURES
        assert ARCHITECTURES[r.architecture].image_tokens(r) == 16
    hub = load_recipe(HUB_PRESET)
    assert not hub.tiny and hub.repo_id == "Qwen/Qwen2.5-VL-3B-Instruct" and hub.path is None


@pytest.mark.parametrize("patch, name, value", [
    ({"text": {"heads": 3}}, "text.hidden_size", 128),  # 128 is not a multiple of 3 heads
    ({"image": {"side": 100}}, "image.side", 100),  # not a multiple of patch 14 x merge 2
    ({"architecture": "gpt2"}, "architecture", "gpt2"),
    ({"tokenizer": {"vocab_size": 10}}, "tokenizer.vocab_size", 10),
    ({"vision": {"layers": "two"}}, "vision.layers", "two"),
    ({"colour": "red"}, "colour", "red"),
    ({"text": {"vocab_size": -1}}, "text.vocab_size", -1),
    ({"vision": {"window_size": 112}}, "vision.window_size", 112),  # qwen2_vl has no window attention
    ({"vision": {"full_attention_layers": [1]}}, "vision.full_attention_layers", [1]),
    ({"vision": {"intermediate_size": 100}}, "vision.intermediate_size", 100),  # qwen2_vl: hidden * mlp_ratio
])
def test_bad_recipe_values_name_the_field_value_and_expectation(tmp_path, patch, name, value):
    data = yaml.safe_load(data_dir("models").joinpath("tiny-qwen2-vl.yaml").read_text())
    for k, v in patch.items():
        data[k] = {**data[k], **v} if isinstance(v, dict) else v
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as e:
        load_recipe(path)
    assert e.value.name == f"{path}.{name}" and e.value.value == value and e.value.expected


QWEN25_TINY = "qwen2.5-vl-tiny-random"


@pytest.mark.parametrize("patch, name, value", [
    ({"vision": {"window_size": 50}}, "vision.window_size", 50),  # not a multiple of patch 14 x merge 2
    ({"vision": {"window_size": 0}}, "vision.window_size", 0),
    ({"vision": {"full_attention_layers": [2]}}, "vision.full_attention_layers[0]", 2),  # 2 layers: 0 and 1
    ({"vision": {"full_attention_layers": [1, 1]}}, "vision.full_attention_layers", [1, 1]),
])
def test_bad_qwen2_5_vl_values_are_named(tmp_path, patch, name, value):
    data = yaml.safe_load(data_dir("models").joinpath(f"{QWEN25_TINY}.yaml").read_text())
    for k, v in patch.items():
        data[k] = {**data[k], **v}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as e:
        load_recipe(path)
    assert e.value.name == f"{path}.{name}" and e.value.value == value and e.value.expected


def test_an_embedding_smaller_than_the_tokenizer_is_refused_before_any_weights(tmp_path):
    from dataclasses import replace

    recipe = load_recipe(QWEN25_TINY)
    recipe = replace(recipe, text=replace(recipe.text, vocab_size=100))
    with pytest.raises(ConfigError) as e:
        build_model(recipe, tmp_path / "m")
    assert e.value.name == "text.vocab_size" and "tokenizer" in e.value.expected
    assert not (tmp_path / "m").exists()


def test_tiny_qwen2_5_vl_loads_back_with_its_padded_tied_embedding(tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText

    path = build_model(load_recipe(QWEN25_TINY), tmp_path / "m", seed=0, dtype="bfloat16")
    model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}  # saved as built
    proc = load_processor(path)
    assert type(proc).__name__ == "Qwen2_5_VLProcessor"
    assert model.get_input_embeddings().num_embeddings == 2048 > len(proc.tokenizer)
    assert model.lm_head.weight is model.get_input_embeddings().weight
    v = model.config.vision_config
    assert (v.window_size, list(v.fullatt_block_indexes), v.intermediate_size) == (56, [1], 172)
    enc = proc(images=[[frame(0)]], text=[chat(proc, "Which way will it fall?")], return_tensors="pt")
    assert enc["input_ids"][0].tolist().count(proc.tokenizer.convert_tokens_to_ids(proc.image_token)) == 16
    out = model.generate(**enc, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == enc["input_ids"].shape[1] + 3


def test_unknown_recipe_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="tiny-qwen2-vl"):
        load_recipe("no-such-model")


def test_hub_recipe_needs_a_repo_id(tmp_path):
    path = tmp_path / "hub.yaml"
    path.write_text("source: hub\nrepo_id: just-a-name\n")
    with pytest.raises(ConfigError, match="owner/name"):
        load_recipe(path)


# --- built models -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TINY_RECIPES)
def test_tiny_model_loads_back_like_a_hub_checkpoint(tiny_models, name):
    from transformers import AutoModelForImageTextToText

    path = tiny_models[name]
    model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
    assert type(model).__name__ == MODEL_CLASSES[name]
    proc = load_processor(path)
    tok = proc.tokenizer
    assert proc.chat_template and tok.chat_template
    assert model.config.image_token_id == tok.convert_tokens_to_ids(proc.image_token)
    assert model.get_input_embeddings().num_embeddings == len(tok)
    assert load_recipe(path / RECIPE_FILE) == load_recipe(name)
    info = json.loads((path / BUILD_FILE).read_text())
    assert info["recipe"] == name and info["seed"] == 0 and info["image_tokens"] == 16


def test_qwen2_vl_ids_in_config_match_its_special_tokens(tiny_models):
    from transformers import AutoConfig

    path = tiny_models["tiny-qwen2-vl"]
    cfg, tok = AutoConfig.from_pretrained(path), load_processor(path).tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in ARCHITECTURES["qwen2_vl"].special.tokens}
    assert (cfg.image_token_id, cfg.video_token_id, cfg.vision_start_token_id, cfg.vision_end_token_id) == (
        ids["<|image_pad|>"], ids["<|video_pad|>"], ids["<|vision_start|>"], ids["<|vision_end|>"])
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"


def test_build_is_deterministic_and_the_seed_sets_the_weights(tiny_models, tmp_path):
    from safetensors.numpy import load_file

    name = "tiny-idefics3"
    again = build_model(load_recipe(name), tmp_path / "again", seed=0)
    other = build_model(load_recipe(name), tmp_path / "other", seed=1)
    for f in ("tokenizer.json", "config.json", "processor_config.json", "model.safetensors"):
        assert (again / f).read_bytes() == (tiny_models[name] / f).read_bytes(), f
    assert (other / "tokenizer.json").read_bytes() == (again / "tokenizer.json").read_bytes()
    w0, w1 = load_file(again / "model.safetensors"), load_file(other / "model.safetensors")
    assert w0.keys() == w1.keys() and any(not np.array_equal(w0[k], w1[k]) for k in w0)


# --- tokenizers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TINY_RECIPES)
def test_tokenizer_round_trips_every_canonical_answer(tiny_models, name):
    proc = load_processor(tiny_models[name])
    tok = proc.tokenizer
    prefix = chat(proc, "Will the tower fall?")
    for task in task_names():
        fmt = load_task(task).answer_format
        answers = canonical_answers(fmt)
        assert len(answers) == (len(fmt.choices) if fmt.kind == "choice" else (fmt.high - fmt.low + 1) ** fmt.count)
        for text in answers:
            for form in (text, " " + text):
                ids = tok.encode(form, add_special_tokens=False)
                assert tok.decode(ids) == form
                assert fmt.kind == "int" or len(ids) == 1, form  # a word answer is one token
            # after the generation prompt, the answer's tokens decode back to exactly the answer
            whole = tok.encode(prefix + text, add_special_tokens=False)
            head = tok.encode(prefix, add_special_tokens=False)
            assert whole[:len(head)] == head
            assert tok.decode(whole[len(head):], skip_special_tokens=True) == text


@pytest.mark.parametrize("name", TINY_RECIPES)
def test_special_tokens_are_single_ids_and_skipped_when_decoding(tiny_models, name):
    tok = load_processor(tiny_models[name]).tokenizer
    arch = ARCHITECTURES[load_recipe(name).architecture]
    for i, t in enumerate(arch.special.tokens):
        assert tok.encode(t, add_special_tokens=False) == [i]
    text = "".join(arch.special.tokens) + "yes"
    assert tok.decode(tok.encode(text, add_special_tokens=False), skip_special_tokens=True) == "yes"


def test_tokenizer_training_is_deterministic_and_takes_extra_texts():
    special = SpecialTokens(("<pad>", "<eos>"), eos="<eos>", pad="<pad>")
    texts = ["How many blocks are on the table?", "The red block is left of the blue block."] * 20
    a, b = train_tokenizer(texts, 600, special), train_tokenizer(texts, 600, special)
    assert a.to_str() == b.to_str()
    c = train_tokenizer(texts + ["rightmost magenta"] * 10, 600, special)
    assert "Ġmagenta" in c.get_vocab() and "Ġmagenta" not in a.get_vocab()
    assert c.decode(c.encode("Is -7 ünïcode? 日本").ids) == "Is -7 ünïcode? 日本"  # byte-level: nothing is lost


# --- processors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TINY_RECIPES)
def test_image_tokens_follow_the_architecture_rule(tiny_models, name):
    proc = load_processor(tiny_models[name])
    tok = proc.tokenizer
    enc = proc(images=[[frame(0)]], text=[chat(proc, "Which way will it fall?")], return_tensors="pt")
    ids = enc["input_ids"][0].tolist()
    n_image = ids.count(tok.convert_tokens_to_ids(proc.image_token))
    assert n_image == 16  # (112 / 14)**2 / 2**2
    if name == "tiny-qwen2-vl":
        grid = enc["image_grid_thw"][0].tolist()
        assert grid == [1, 8, 8] and n_image == np.prod(grid) // proc.image_processor.merge_size**2
        assert tuple(enc["pixel_values"].shape) == (64, 3 * 2 * 14 * 14)
        start = ids.index(tok.convert_tokens_to_ids("<|vision_start|>"))
        assert ids[start + 17] == tok.convert_tokens_to_ids("<|vision_end|>")
    else:
        assert tuple(enc["pixel_values"].shape) == (1, 1, 3, 112, 112)
        tokens = tok.convert_ids_to_tokens(ids)
        start = tokens.index("<fake_token_around_image>")
        assert tokens[start:start + 19] == ["<fake_token_around_image>", "<global-img>", *["<image>"] * 16,
                                            "<fake_token_around_image>"]


def test_qwen2_vl_fallback_equals_the_full_processor(tiny_models, monkeypatch, caplog):
    """The image-only fallback gives exactly the full Qwen2VLProcessor's output for images (the full
    one built here with a stub video processor, since the real one needs torchvision)."""
    from transformers import Qwen2VLProcessor
    from transformers.video_processing_utils import BaseVideoProcessor

    monkeypatch.setattr(processor_mod, "_LOGGED", set())
    with caplog.at_level(logging.WARNING, logger="physgen"):
        fallback = load_processor(tiny_models["tiny-qwen2-vl"])
        load_processor(tiny_models["tiny-qwen2-vl"])
    assert is_image_only(fallback) and type(fallback).__name__ == "Qwen2VLProcessor"
    assert [r.name for r in caplog.records if "torchvision" in r.getMessage()] == ["physgen"]  # once
    monkeypatch.setattr(Qwen2VLProcessor, "check_argument_for_proper_class", lambda *a: None)
    full = Qwen2VLProcessor(image_processor=fallback.image_processor, tokenizer=fallback.tokenizer,
                            video_processor=BaseVideoProcessor(), chat_template=fallback.chat_template)
    fallback.tokenizer.padding_side = "left"
    images = [[frame(1)], [frame(2, 240, 320)]]
    texts = [chat(fallback, "short"), chat(fallback, "a longer prompt, so the batch is padded on the left")]
    a = fallback(images=images, text=texts, padding=True, return_tensors="pt")
    b = full(images=images, text=texts, padding=True, return_tensors="pt")
    assert set(a) == set(b) >= {"input_ids", "attention_mask", "pixel_values", "image_grid_thw"}
    for k in a:
        assert a[k].equal(b[k]), k


def test_idefics3_needs_no_fallback(tiny_models):
    assert not is_image_only(load_processor(tiny_models["tiny-idefics3"]))


# --- resolving models -------------------------------------------------------------------------------

def test_resolve_model_builds_tiny_recipes_once_into_the_cache(tmp_path, monkeypatch, tiny_models):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    path = resolve_model("tiny-idefics3")
    assert path == tmp_path / "cache" / "tiny-idefics3-seed0"
    weights = path / "model.safetensors"
    assert weights.read_bytes() == (tiny_models["tiny-idefics3"] / "model.safetensors").read_bytes()
    stamp = weights.stat().st_mtime_ns
    assert resolve_model("tiny-idefics3") == path and weights.stat().st_mtime_ns == stamp
    assert resolve_model(path) == path and resolve_model(str(path)) == path  # a directory is itself
    info = json.loads((path / BUILD_FILE).read_text())
    (path / BUILD_FILE).write_text(json.dumps({**info, "fingerprint": "stale"}))
    assert resolve_model("tiny-idefics3") == path and json.loads((path / BUILD_FILE).read_text()) == info
    assert resolve_model("tiny-idefics3", seed=3).name == "tiny-idefics3-seed3"
    (tmp_path / "cache" / "tiny-idefics3-seed5").mkdir()  # not built by physgen: never overwritten
    with pytest.raises(FileExistsError, match=CACHE_ENV):
        resolve_model("tiny-idefics3", seed=5)
    extra = resolve_model("tiny-idefics3", extra_texts=["How many blocks are on the table?"] * 5)
    assert extra.name.startswith("tiny-idefics3-seed0-x") and json.loads((extra / BUILD_FILE).read_text())[
        "extra_texts"] == 5


def test_a_directory_without_config_is_not_a_model(tmp_path):
    with pytest.raises(ModelNotFoundError, match="config.json"):
        resolve_model(tmp_path)
    with pytest.raises(ConfigError) as e:
        resolve_model(tmp_path / "no" / "such-model")
    assert e.value.name == "model" and "model directory" in e.value.expected


def test_hub_preset_without_a_local_copy_says_where_it_looked(tmp_path, monkeypatch):
    hf_home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(hf_home))
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ModelNotFoundError) as e:
        resolve_model(HUB_PRESET)
    msg = str(e.value)
    for part in ("Qwen/Qwen2.5-VL-3B-Instruct", str(hf_home / "hub"), "never downloads", "hf download",
                 "--model PATH", "path:"):
        assert part in msg, part


def test_hub_preset_resolves_from_the_users_cache_or_a_path(tmp_path, monkeypatch):
    cache = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    repo = cache / "models--Qwen--Qwen2.5-VL-3B-Instruct"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    (snapshot / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError):  # a snapshot without weights is incomplete
        resolve_model(HUB_PRESET)
    (snapshot / "model.safetensors").write_bytes(b"")
    assert resolve_model(HUB_PRESET) == snapshot
    (snapshot / "config.json").write_text('{"model_type": "llava"}')  # not what the recipe says it is
    with pytest.raises(ConfigError, match="qwen2_5_vl"):
        resolve_model(HUB_PRESET)
    local = tmp_path / "local"
    local.mkdir()
    (local / "config.json").write_text("{}")
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("source: hub\nrepo_id: Qwen/Qwen2.5-VL-3B-Instruct\npath: local\n")  # relative to the file
    assert resolve_model(recipe) == local
