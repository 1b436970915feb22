"""The transformers backend: any local Hugging Face VLM directory as a :class:`Policy`.

The model is loaded with ``AutoModelForImageTextToText``, its processor with
:func:`~physgen.models.processor.load_processor`, and each observation becomes one user turn of the
model's own chat template (the frame, then the prompt) followed by the generation prompt. Greedy by
default; sampling on request, reproducible: each call seeds its own RNG from the config's seed and
the observations' (task, seed). The policy returns the decoded new tokens, whatever they are; the
codec judges them. Only a malformed input image raises (ValueError), so the caller can count it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from physgen.config import ConfigError, build, in_range, require, to_dict
from physgen.policy.base import Observation, Policy
from physgen.types import stable_hash

MIN_SIDE = 16  # pixels; smaller frames cannot be patchified meaningfully
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class VLMConfig:
    """The transformers policy's settings. ``model``: a model directory, or a recipe name or file
    (resolved by :func:`~physgen.models.recipes.resolve_model`)."""

    model: str
    name: str = "vlm"
    device: str = "auto"  # auto: CUDA if available, else CPU
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: bf16/fp16 on CUDA, fp32 on CPU
    max_new_tokens: int = 16
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 8
    trust_remote_code: bool = False  # runs code shipped with the model: only if the user turns it on

    def __post_init__(self) -> None:
        require(bool(str(self.model).strip()), "model", self.model, "a model directory or recipe name")
        require(bool(self.name.strip()), "name", self.name, "a non-empty policy name")
        require(bool(_DEVICE.match(self.device)), "device", self.device, "auto, cpu, mps, cuda or cuda:N")
        in_range("max_new_tokens", self.max_new_tokens, 1, 4096)
        in_range("temperature", self.temperature, 1e-3, 100.0)
        require(0.0 < self.top_p <= 1.0, "top_p", self.top_p, "a number in (0, 1]")
        in_range("seed", self.seed, 0, 2**32 - 1)
        in_range("batch_size", self.batch_size, 1, 4096)

    @classmethod
    def from_dict(cls, data: dict, where: str = "vlm") -> VLMConfig:
        return build(cls, data, where)


def user_turn(prompt: str) -> dict:
    """The one user turn a policy sends (and a trainer should train on): the frame, then the prompt."""
    return {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}


def chat_text(processor, prompt: str, answer: str | None = None) -> str:
    """The chat-template text of one frame and ``prompt``: ending in the generation prompt, or, with
    ``answer``, followed by the assistant's answer (what SFT trains on)."""
    messages = [user_turn(prompt)]
    if answer is None:
        return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return processor.apply_chat_template(messages, add_generation_prompt=False, tokenize=False)


def check_image(image) -> np.ndarray:
    """``image`` if it is an RGB frame (uint8 array, shape (H, W, 3), H and W >= 16); else ValueError."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"observation image: expected a numpy uint8 array of shape (H, W, 3), "
                         f"got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < MIN_SIDE:
        raise ValueError(f"observation image: expected a uint8 array of shape (H, W, 3) with H, W >= {MIN_SIDE}, "
                         f"got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


class TransformersPolicy(Policy):
    """A local Hugging Face VLM answering observations with text (see the module doc)."""

    def __init__(self, config: VLMConfig | str | Path):
        from physgen.models.hub import offline

        offline()
        import torch
        from transformers import AutoModelForImageTextToText

        from physgen.models.processor import is_image_only, load_processor
        from physgen.models.recipes import resolve_model

        self.config = config if isinstance(config, VLMConfig) else VLMConfig(model=str(config))
        self.name = self.config.name
        self.path = resolve_model(self.config.model)
        self.device = _device(self.config.device, torch)
        self.dtype = _dtype(self.config.dtype, self.device, torch)
        self.processor = load_processor(self.path, trust_remote_code=self.config.trust_remote_code)
        self.processor.tokenizer.padding_side = "left"  # batched generation continues every row at the end
        self.image_only = is_image_only(self.processor)
        self.model = AutoModelForImageTextToText.from_pretrained(
            self.path, dtype=self.dtype, local_files_only=True, trust_remote_code=self.config.trust_remote_code,
        ).to(self.device).eval()
        self._torch = torch

    @classmethod
    def wrap(cls, model, processor, config: VLMConfig | None = None) -> TransformersPolicy:
        """A policy around a model already in memory (one being trained), loading nothing. The caller
        sets the tokenizer's padding side to left while the policy generates."""
        import torch

        from physgen.models.processor import is_image_only

        self = cls.__new__(cls)
        self.config = config or VLMConfig(model="(in memory)")
        self.name, self.path = self.config.name, Path(getattr(model, "name_or_path", "") or ".")
        self.device, self.dtype = model.device, model.dtype
        self.processor, self.model, self._torch = processor, model, torch
        self.image_only = is_image_only(processor)
        return self

    def act(self, obs: Observation) -> str:
        return self.act_batch([obs])[0]

    def act_batch(self, batch: list[Observation]) -> list[str]:
        """Answers in order, generated ``config.batch_size`` at a time (left-padded). Greedy answers
        do not depend on the batching; sampled ones depend on the batch's observations and the seed."""
        size = self.config.batch_size
        return [text for i in range(0, len(batch), size) for text in self._generate(batch[i:i + size])]

    def chat_text(self, prompt: str) -> str:
        """The model's chat-template text for one frame and ``prompt``, ending in the generation prompt."""
        return chat_text(self.processor, prompt)

    def inputs(self, batch: list[Observation]):
        """The processor's model inputs for ``batch`` (on the policy's device and dtype)."""
        from PIL import Image

        for obs in batch:
            if not isinstance(obs.prompt, str):
                raise ValueError(f"observation prompt: expected a string, got {type(obs.prompt).__name__}")
        images = [[Image.fromarray(check_image(obs.image))] for obs in batch]
        texts = [self.chat_text(obs.prompt) for obs in batch]
        try:
            enc = self.processor(images=images, text=texts, padding=True, return_tensors="pt")
        except ValueError as e:  # e.g. an extreme aspect ratio the image processor refuses
            raise ValueError(f"observation (image, prompt) could not be processed: {e}") from e
        return enc.to(self.device, self.dtype)

    def _generate(self, batch: list[Observation]) -> list[str]:
        torch = self._torch
        enc = self.inputs(batch)
        cfg = self.config
        kwargs = dict(max_new_tokens=cfg.max_new_tokens, do_sample=cfg.do_sample)
        if cfg.do_sample:
            kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p, top_k=0)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.inference_mode(), torch.random.fork_rng(devices=devices, enabled=cfg.do_sample):
            if cfg.do_sample:
                torch.manual_seed(self._call_seed(batch))
            out = self.model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        return self.processor.tokenizer.batch_decode(new, skip_special_tokens=True,
                                                     clean_up_tokenization_spaces=False)

    def _call_seed(self, batch: list[Observation]) -> int:
        words = [self.config.seed] + [w for o in batch for w in (stable_hash(o.task), int(o.seed) % 2**32)]
        return int(np.random.SeedSequence(words).generate_state(1)[0])

    def describe(self) -> dict:
        build_info = self.path / "physgen_build.json"  # present in tiny models built by physgen
        return {"name": self.name, "backend": "transformers", "path": str(self.path),
                "build": json.loads(build_info.read_text()) if build_info.is_file() else None,
                "architecture": self.model.config.model_type, "device": str(self.device),
                "dtype": str(self.dtype).removeprefix("torch."), "processor_image_only": self.image_only,
                "config": to_dict(self.config)}

    def close(self) -> None:
        torch = self._torch
        cuda = self.device.type == "cuda"
        self.model = self.processor = None
        if cuda:
            torch.cuda.empty_cache()


def _device(name: str, torch):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("vlm.device", name, "auto or cpu: CUDA is not available here")
    return torch.device(name)


def _dtype(name: str, device, torch):
    if name != "auto":
        return getattr(torch, name)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32
