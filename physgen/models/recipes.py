"""Model recipes (``models/*.yaml``): tiny VLMs of real architectures built here, or Hub presets.

A *tiny* recipe is built by :func:`build_model` into a directory that loads exactly like a Hub
checkpoint (``AutoModelForImageTextToText`` + ``AutoProcessor``): a tokenizer trained on the task
suite's text, the architecture's config, image processor and chat template, and random weights from
an explicit seed. (The realistic-size recipes, Qwen2.5-VL's 3B and 7B layer sizes, are tiny recipes in
this sense too: built on a GPU in bfloat16 with ``build_model(..., device="cuda", dtype="bfloat16")``.)
A *hub* recipe names a Hub repository that is only ever found on this machine
(``path`` or the user's Hugging Face cache), never downloaded. :func:`resolve_model` turns a recipe
name, recipe file or model directory into a model directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import yaml

from physgen.config import build, in_range, load_yaml, one_of, require, to_dict
from physgen.models.architectures import architecture
from physgen.models.hub import ModelNotFoundError, find_local, is_model_dir
from physgen.resources import data_dir

log = logging.getLogger("physgen")

BUILD_VERSION = 1  # bump when build_model's output changes for the same recipe, seed and texts
RECIPE_FILE = "physgen_recipe.yaml"
BUILD_FILE = "physgen_build.json"
CACHE_ENV = "PHYSGEN_MODEL_CACHE"
DTYPES = ("float32", "bfloat16", "float16")  # what build_model makes weights in


@dataclass(frozen=True)
class TokenizerSpec:
    vocab_size: int = 2048  # upper bound: BPE stops early when the corpus has no more merges
    task_seeds: int = 64  # train-split instances per task whose prompts train the tokenizer
    min_frequency: int = 2

    def __post_init__(self) -> None:
        in_range("vocab_size", self.vocab_size, 512, 65536)
        in_range("task_seeds", self.task_seeds, 1, 100000)
        in_range("min_frequency", self.min_frequency, 1, 1000)


@dataclass(frozen=True)
class TextSpec:
    hidden_size: int = 128
    intermediate_size: int = 256
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    max_positions: int = 2048
    rope_theta: float = 10000.0
    vocab_size: int = 0  # embedding rows; 0: the tokenizer's size (real checkpoints pad theirs, e.g. 151936)
    tie_embeddings: bool = False  # the output layer shares the input embedding's weights

    def __post_init__(self) -> None:
        for name in ("hidden_size", "intermediate_size", "layers", "heads", "kv_heads"):
            in_range(name, getattr(self, name), 1, 65536)
        in_range("max_positions", self.max_positions, 128, 1 << 20)
        in_range("rope_theta", self.rope_theta, 1.0)
        in_range("vocab_size", self.vocab_size, 0, 1 << 20)  # checked against the tokenizer at build


@dataclass(frozen=True)
class VisionSpec:
    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    mlp_ratio: int = 2
    patch_size: int = 14
    merge: int = 2  # merge x merge patches -> one image token (Qwen2-VL spatial_merge_size, Idefics3 scale_factor)
    intermediate_size: int = 0  # the MLP's width; 0: hidden_size * mlp_ratio
    window_size: int = 0  # qwen2_5_vl: attention within windows of this many pixels a side; 0: no windows
    full_attention_layers: tuple[int, ...] = ()  # qwen2_5_vl: the layers attending over the whole image

    def __post_init__(self) -> None:
        for name in ("hidden_size", "layers", "heads", "mlp_ratio", "patch_size", "merge"):
            in_range(name, getattr(self, name), 1, 65536)
        in_range("intermediate_size", self.intermediate_size, 0, 1 << 20)
        in_range("window_size", self.window_size, 0, 65536)

    @property
    def mlp_size(self) -> int:
        return self.intermediate_size or self.hidden_size * self.mlp_ratio


@dataclass(frozen=True)
class ImageSpec:
    side: int = 112  # frames are resized to about side x side pixels

    def __post_init__(self) -> None:
        in_range("side", self.side, 28, 4096)


@dataclass(frozen=True)
class Recipe:
    """A model recipe. ``source: tiny`` uses ``architecture``, ``seed`` and the specs; ``source: hub``
    uses ``repo_id``, ``revision`` and ``path`` (a local copy; else the user's HF cache)."""

    name: str
    source: Literal["tiny", "hub"]
    architecture: str = ""
    description: str = ""
    seed: int = 0
    repo_id: str = ""
    revision: str | None = None
    path: Path | None = None
    tokenizer: TokenizerSpec = field(default_factory=TokenizerSpec)
    text: TextSpec = field(default_factory=TextSpec)
    vision: VisionSpec = field(default_factory=VisionSpec)
    image: ImageSpec = field(default_factory=ImageSpec)

    def __post_init__(self) -> None:
        require(bool(self.name) and "/" not in self.name and not self.name.startswith("."), "name", self.name,
                "a non-empty file-name-safe string")
        in_range("seed", self.seed, 0, 2**32 - 1)
        if self.source == "tiny":
            architecture(self.architecture).check(self)
        else:
            parts = self.repo_id.split("/")
            require(len(parts) == 2 and all(parts), "repo_id", self.repo_id, "a Hub repository id 'owner/name'")

    @property
    def tiny(self) -> bool:
        return self.source == "tiny"


def recipe_names() -> list[str]:
    """The recipes shipped in ``models/``."""
    return sorted(p.stem for p in data_dir("models").glob("*.yaml"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A recipe by bare name (``models/<name>.yaml``) or YAML path; bad values are ConfigErrors."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or os.sep in text or Path(text).is_file():
        path = Path(text).expanduser()
        require(path.is_file(), "model", text, "an existing recipe YAML file, a model directory or a recipe name")
    else:
        path = data_dir("models") / f"{text}.yaml"
        require(path.is_file(), "model", text,
                f"a recipe name ({', '.join(recipe_names())}), a recipe YAML file or a model directory")
    data = load_yaml(path)
    data.setdefault("name", path.stem)
    recipe = build(Recipe, data, str(path))
    if recipe.path is not None and not recipe.path.is_absolute():  # relative to the recipe file
        recipe = replace(recipe, path=(path.parent / recipe.path).resolve())
    return recipe


def check_model(text: str) -> None:
    """A ConfigError naming ``model`` unless ``text`` is a saved model directory or a recipe (a name or
    a file): the check a job makes at start, before any work (what the recipe needs is found at load)."""
    path = Path(text).expanduser()
    if path.is_dir():
        require(is_model_dir(path), "model", text, "a saved model directory (with config.json) or a recipe")
    else:
        load_recipe(text)


def build_model(recipe: Recipe, out_dir: str | Path, seed: int | None = None,
                extra_texts: Sequence[str] = (), device: str = "cpu", dtype: str = "float32") -> Path:
    """Build tiny ``recipe`` into ``out_dir`` (random weights from ``seed``, default the recipe's) and
    return it. ``extra_texts`` are added to the tokenizer's training text. Saves the model, tokenizer,
    processor (image processor, chat template), ``physgen_recipe.yaml`` and ``physgen_build.json``.
    The weights are made on ``device`` in ``dtype`` (a torch dtype name) and saved in that dtype: a
    billion-parameter recipe is built on a GPU in bfloat16 (the same seed gives other numbers there)."""
    require(recipe.tiny, f"recipe {recipe.name}.source", recipe.source, "'tiny' (hub recipes are not built)")
    one_of("dtype", dtype, DTYPES)
    recipe = replace(recipe, seed=recipe.seed if seed is None else seed)
    return _build(recipe, Path(out_dir), tokenizer_texts(recipe, extra_texts), len(extra_texts), device, dtype)


def tokenizer_texts(recipe: Recipe, extra_texts: Sequence[str] = ()) -> list[str]:
    """The text a tiny recipe's tokenizer is trained on: the suite's, the caller's, the chat template's."""
    from physgen.models.tokenizer import suite_texts

    arch = architecture(recipe.architecture)
    return suite_texts(recipe.tokenizer.task_seeds) + list(extra_texts) + list(arch.template_texts)


def model_config(recipe: Recipe, texts: Sequence[str] | None = None):
    """``(config, tokenizer)``: the transformers config tiny ``recipe`` builds and its tokenizer (trained
    on ``texts``, default :func:`tokenizer_texts`), without weights; e.g. to instantiate the model on
    the meta device."""
    from physgen.models.hub import offline
    from physgen.models.tokenizer import build_tokenizer

    offline()
    arch = architecture(recipe.architecture)
    texts = tokenizer_texts(recipe) if texts is None else list(texts)
    tokenizer = build_tokenizer(texts, recipe.tokenizer.vocab_size, arch.special, arch.chat_template,
                                recipe.text.max_positions, recipe.tokenizer.min_frequency)
    return arch.config(recipe, tokenizer), tokenizer


def _build(recipe: Recipe, out: Path, texts: list[str], n_extra: int, device: str = "cpu",
           dtype: str = "float32") -> Path:
    import torch
    from transformers import GenerationConfig

    arch = architecture(recipe.architecture)
    config, tokenizer = model_config(recipe, texts)
    where = torch.device(device)
    with torch.random.fork_rng(devices=[where.index or 0] if where.type == "cuda" else []), where:
        torch.manual_seed(recipe.seed)
        model = arch.model_class()._from_config(config, dtype=getattr(torch, dtype)).eval()
    ids = arch.token_ids(tokenizer)
    model.generation_config = GenerationConfig(
        bos_token_id=ids.get(arch.special.bos or ""), pad_token_id=ids[arch.special.pad],
        eos_token_id=[ids[t] for t in arch.stop_tokens], do_sample=False, max_new_tokens=16,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    arch.processor(recipe, arch.image_processor(recipe), tokenizer).save_pretrained(out)
    (out / RECIPE_FILE).write_text(
        f"# Recipe {recipe.name!r} as built here (seed {recipe.seed}); load it with physgen's load_recipe.\n"
        + yaml.safe_dump(to_dict(recipe), sort_keys=False, width=1000))
    info = {"fingerprint": fingerprint(recipe, texts), "build_version": BUILD_VERSION, "recipe": recipe.name,
            "seed": recipe.seed, "architecture": arch.name, "vocab_size": len(tokenizer),
            "image_tokens": arch.image_tokens(recipe), "parameters": sum(p.numel() for p in model.parameters()),
            "extra_texts": n_extra}
    (out / BUILD_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return out


def fingerprint(recipe: Recipe, texts: Sequence[str]) -> str:
    """What a build depends on: recipe, seed, tokenizer text and build logic version."""
    h = hashlib.sha256(json.dumps([BUILD_VERSION, to_dict(recipe)], sort_keys=True).encode())
    for t in texts:
        h.update(t.encode() + b"\0")
    return h.hexdigest()[:16]


def cache_root() -> Path:
    """Where built tiny models are cached: ``$PHYSGEN_MODEL_CACHE``, else ``models/checkpoints/`` of
    the checkout, else (installed read-only) ``~/.cache/physgen/checkpoints``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    models = data_dir("models")
    if os.access(models, os.W_OK):
        return models / "checkpoints"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()) / "physgen" / "checkpoints"


def resolve_model(model: Recipe | str | Path, seed: int | None = None, extra_texts: Sequence[str] = ()) -> Path:
    """A model directory for a model directory (itself), a tiny recipe (built into the cache if missing
    or stale) or a hub recipe (a local copy only). ``model`` may be a Recipe, a recipe name or file, or
    a directory. ``seed`` and ``extra_texts`` apply to tiny recipes."""
    if not isinstance(model, Recipe):
        path = Path(model).expanduser()
        if path.is_dir():
            if not is_model_dir(path):
                raise ModelNotFoundError(f"{path} is a directory without config.json: not a saved model")
            return path
        model = load_recipe(model)
    if not model.tiny:
        found = find_local(model.repo_id, model.path, model.revision, what=f"recipe {model.name!r}")
        declared = json.loads((found / "config.json").read_text()).get("model_type")
        require(not model.architecture or declared in (None, model.architecture), f"recipe {model.name}.architecture",
                model.architecture, f"the model_type of {found / 'config.json'} ({declared!r})")
        return found
    return _cached_build(replace(model, seed=model.seed if seed is None else seed), list(extra_texts))


def _cached_build(recipe: Recipe, extra_texts: list[str]) -> Path:
    texts = tokenizer_texts(recipe, extra_texts)
    want = fingerprint(recipe, texts)
    suffix = f"-x{hashlib.sha256(json.dumps(extra_texts).encode()).hexdigest()[:8]}" if extra_texts else ""
    root = cache_root()
    target = root / f"{recipe.name}-seed{recipe.seed}{suffix}"
    found = _fingerprint_of(target)
    if found == want:
        return target
    if found is None and target.exists():
        raise FileExistsError(f"{target} exists but is not a tiny model built by physgen (no {BUILD_FILE}); "
                              f"move it away or set {CACHE_ENV} to another cache directory")
    root.mkdir(parents=True, exist_ok=True)
    log.info("building tiny model %s (seed %d) into %s", recipe.name, recipe.seed, target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
    try:
        _build(recipe, tmp, texts, len(extra_texts))
        if target.exists():  # a stale physgen build (checked above)
            shutil.rmtree(target, ignore_errors=True)
        try:
            tmp.rename(target)
        except OSError:  # another process renamed its build there first
            if _fingerprint_of(target) != want:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _fingerprint_of(path: Path) -> str | None:
    try:
        return json.loads((path / BUILD_FILE).read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None
