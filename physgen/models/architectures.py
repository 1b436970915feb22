"""The real transformers architectures a tiny recipe can build, each with its own special tokens,
chat template, config, image processor and processor, as its Hub checkpoints have them.

- ``qwen2_vl``: ``Qwen2VLForConditionalGeneration``, the study's model family. A frame is resized to
  ``side`` x ``side`` pixels, cut into ``patch`` x ``patch`` patches, and each ``merge`` x ``merge``
  block of patches becomes one ``<|image_pad|>`` token: ``(side / patch)**2 / merge**2`` tokens.
- ``qwen2_5_vl``: ``Qwen2_5_VLForConditionalGeneration`` (Qwen2.5-VL), Qwen2-VL's tokens, template
  and image rule with Qwen2.5-VL's vision encoder: a gated SiLU MLP of ``vision.intermediate_size``,
  attention within windows of ``vision.window_size`` pixels except in ``vision.full_attention_layers``,
  and a merger projecting to the text width.
- ``idefics3``: ``Idefics3ForConditionalGeneration``, the architecture of SmolVLM (SigLIP-style vision
  encoder, pixel-shuffle connector, Llama text model), with SmolVLM's tokens and chat template. Image
  splitting is off, so a frame is one ``side`` x ``side`` image of ``(side / patch)**2 / merge**2``
  ``<image>`` tokens between ``<fake_token_around_image><global-img>`` and ``<fake_token_around_image>``.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

from physgen.config import ConfigError, require
from physgen.models.tokenizer import SpecialTokens

if TYPE_CHECKING:
    from physgen.models.recipes import Recipe

QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


class Architecture(abc.ABC):
    """How to build one architecture from a tiny recipe. ``name`` is its transformers ``model_type``."""

    name: ClassVar[str]
    special: ClassVar[SpecialTokens]
    chat_template: ClassVar[str]
    template_texts: ClassVar[tuple[str, ...]]  # the template's own words, for tokenizer training
    stop_tokens: ClassVar[tuple[str, ...]]  # generation ends at any of these
    windowed: ClassVar[bool] = False  # the vision encoder has window attention (vision.window_size)

    def check(self, r: Recipe) -> None:
        """Raise ConfigError for a recipe this architecture cannot build."""
        t, v = r.text, r.vision
        if not self.windowed:
            require(v.window_size == 0, "vision.window_size", v.window_size,
                    f"0: architecture {self.name} has no window attention")
            require(not v.full_attention_layers, "vision.full_attention_layers", list(v.full_attention_layers),
                    f"[]: architecture {self.name} has no window attention")
        require(t.hidden_size % t.heads == 0, "text.hidden_size", t.hidden_size, f"a multiple of text.heads={t.heads}")
        require(t.heads % t.kv_heads == 0, "text.kv_heads", t.kv_heads, f"a divisor of text.heads={t.heads}")
        require(v.hidden_size % v.heads == 0, "vision.hidden_size", v.hidden_size,
                f"a multiple of vision.heads={v.heads}")
        step = v.patch_size * v.merge
        require(r.image.side % step == 0, "image.side", r.image.side,
                f"a multiple of vision.patch_size * vision.merge = {step}")

    def image_tokens(self, r: Recipe) -> int:
        """Placeholder tokens per frame: ``(side / patch)**2 / merge**2`` for both architectures here."""
        return (r.image.side // r.vision.patch_size) ** 2 // r.vision.merge**2

    def token_ids(self, tokenizer) -> dict[str, int]:
        return {t: tokenizer.convert_tokens_to_ids(t) for t in self.special.tokens}

    def text_config(self, r: Recipe, tokenizer) -> dict[str, Any]:
        ids = self.token_ids(tokenizer)
        t = r.text
        require(t.vocab_size == 0 or t.vocab_size >= len(tokenizer), "text.vocab_size", t.vocab_size,
                f"0 (the tokenizer's size) or at least the tokenizer's {len(tokenizer)} tokens")
        return dict(
            vocab_size=t.vocab_size or len(tokenizer), hidden_size=t.hidden_size,
            intermediate_size=t.intermediate_size, num_hidden_layers=t.layers, num_attention_heads=t.heads,
            num_key_value_heads=t.kv_heads, max_position_embeddings=t.max_positions,
            bos_token_id=ids.get(self.special.bos or ""), eos_token_id=ids[self.special.eos],
            pad_token_id=ids[self.special.pad],
        )

    @abc.abstractmethod
    def config(self, r: Recipe, tokenizer): ...

    @abc.abstractmethod
    def model_class(self): ...

    @abc.abstractmethod
    def image_processor(self, r: Recipe): ...

    @abc.abstractmethod
    def processor(self, r: Recipe, image_processor, tokenizer): ...


def _check_rotary_heads(r: Recipe) -> None:
    """The head sizes the Qwen-VL rotary embeddings need."""
    head = r.text.hidden_size // r.text.heads
    require(head % 16 == 0, "text.hidden_size", r.text.hidden_size,
            f"text.heads={r.text.heads} heads of a multiple of 16 dims (multimodal rotary sections)")
    vhead = r.vision.hidden_size // r.vision.heads
    require(vhead % 4 == 0, "vision.hidden_size", r.vision.hidden_size,
            f"vision.heads={r.vision.heads} heads of a multiple of 4 dims (2-D rotary embedding)")


class Qwen2VL(Architecture):
    name = "qwen2_vl"
    special = SpecialTokens(
        tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"),
        eos="<|im_end|>", pad="<|endoftext|>",
    )
    chat_template = QWEN2_VL_TEMPLATE
    template_texts = ("system\nYou are a helpful assistant.", "user\n", "assistant\n", "\n")
    stop_tokens = ("<|im_end|>", "<|endoftext|>")

    def check(self, r: Recipe) -> None:
        super().check(r)
        _check_rotary_heads(r)
        v = r.vision
        require(v.intermediate_size in (0, v.hidden_size * v.mlp_ratio), "vision.intermediate_size",
                v.intermediate_size, "0 or vision.hidden_size * vision.mlp_ratio (qwen2_vl sizes its vision MLP by "
                "mlp_ratio)")

    def text_config(self, r: Recipe, tokenizer) -> dict[str, Any]:
        half = r.text.hidden_size // r.text.heads // 2
        sections = [half // 4, 3 * half // 8, 3 * half // 8]  # temporal, height, width: Qwen2-VL's 16/24/24 of 64
        return super().text_config(r, tokenizer) | dict(
            rope_parameters={"rope_type": "default", "rope_theta": r.text.rope_theta, "mrope_section": sections})

    def shared_config(self, r: Recipe, tokenizer) -> dict[str, Any]:
        """The top-level config fields Qwen2-VL and Qwen2.5-VL share: token ids, embedding tying."""
        ids = self.token_ids(tokenizer)
        return dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                    vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
                    tie_word_embeddings=r.text.tie_embeddings)

    def config(self, r: Recipe, tokenizer):
        from transformers import Qwen2VLConfig

        v = r.vision
        vision = dict(depth=v.layers, embed_dim=v.hidden_size, hidden_size=r.text.hidden_size, num_heads=v.heads,
                      mlp_ratio=v.mlp_ratio, patch_size=v.patch_size, spatial_merge_size=v.merge,
                      temporal_patch_size=2)
        return Qwen2VLConfig(text_config=self.text_config(r, tokenizer), vision_config=vision,
                             **self.shared_config(r, tokenizer))

    def model_class(self):
        from transformers import Qwen2VLForConditionalGeneration

        return Qwen2VLForConditionalGeneration

    def image_processor(self, r: Recipe):
        from transformers import Qwen2VLImageProcessorPil

        pixels = r.image.side**2  # min = max: every frame becomes about side x side pixels
        return Qwen2VLImageProcessorPil(min_pixels=pixels, max_pixels=pixels, patch_size=r.vision.patch_size,
                                        merge_size=r.vision.merge, temporal_patch_size=2)

    def processor(self, r: Recipe, image_processor, tokenizer):
        from transformers import Qwen2VLProcessor

        from physgen.models.processor import image_only

        # Built without a video processor (it needs torchvision); saved under the real class's name.
        return image_only(Qwen2VLProcessor)(image_processor=image_processor, tokenizer=tokenizer,
                                            chat_template=self.chat_template)


class Qwen2_5VL(Qwen2VL):
    """Qwen2.5-VL: Qwen2-VL's tokens, template, text model and image rule; the vision encoder as in
    ``Qwen2_5_VLVisionConfig`` (window attention, gated SiLU MLP, RMSNorm, merger to the text width)."""

    name = "qwen2_5_vl"
    windowed = True

    def check(self, r: Recipe) -> None:
        Architecture.check(self, r)
        _check_rotary_heads(r)
        v = r.vision
        step = v.patch_size * v.merge
        require(v.window_size >= step and v.window_size % step == 0, "vision.window_size", v.window_size,
                f"a positive multiple of vision.patch_size * vision.merge = {step} (Qwen2.5-VL: 112)")
        for i, layer in enumerate(v.full_attention_layers):
            require(0 <= layer < v.layers, f"vision.full_attention_layers[{i}]", layer,
                    f"a vision layer index in [0, {v.layers - 1}]")
        require(len(set(v.full_attention_layers)) == len(v.full_attention_layers), "vision.full_attention_layers",
                list(v.full_attention_layers), "distinct layer indices")

    def config(self, r: Recipe, tokenizer):
        from transformers import Qwen2_5_VLConfig

        v = r.vision
        vision = dict(depth=v.layers, hidden_size=v.hidden_size, intermediate_size=v.mlp_size, num_heads=v.heads,
                      out_hidden_size=r.text.hidden_size, patch_size=v.patch_size, spatial_merge_size=v.merge,
                      temporal_patch_size=2, window_size=v.window_size,
                      fullatt_block_indexes=list(v.full_attention_layers), tokens_per_second=2)
        text = self.text_config(r, tokenizer) | dict(rms_norm_eps=1e-6)  # as Qwen2.5-VL's config.json
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **self.shared_config(r, tokenizer))

    def model_class(self):
        from transformers import Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration

    def processor(self, r: Recipe, image_processor, tokenizer):
        from transformers import Qwen2_5_VLProcessor

        from physgen.models.processor import image_only

        # Built without a video processor (it needs torchvision); saved under the real class's name.
        return image_only(Qwen2_5_VLProcessor)(image_processor=image_processor, tokenizer=tokenizer,
                                               chat_template=self.chat_template)


class Idefics3(Architecture):
    name = "idefics3"
    special = SpecialTokens(
        tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<end_of_utterance>", "<fake_token_around_image>",
                "<image>", "<global-img>", *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7))),
        bos="<|im_start|>", eos="<end_of_utterance>", pad="<|im_end|>", unk="<|endoftext|>",
    )
    chat_template = SMOLVLM_TEMPLATE
    template_texts = ("User:", "Assistant:", "User: ", "Assistant: ", "\n")
    stop_tokens = ("<end_of_utterance>",)

    def config(self, r: Recipe, tokenizer):
        from transformers import Idefics3Config

        ids = self.token_ids(tokenizer)
        text = self.text_config(r, tokenizer) | dict(
            model_type="llama", rope_parameters={"rope_type": "default", "rope_theta": r.text.rope_theta},
            tie_word_embeddings=r.text.tie_embeddings)
        v = r.vision
        vision = dict(hidden_size=v.hidden_size, intermediate_size=v.mlp_size,
                      num_hidden_layers=v.layers, num_attention_heads=v.heads, image_size=r.image.side,
                      patch_size=v.patch_size)
        return Idefics3Config(text_config=text, vision_config=vision, image_token_id=ids["<image>"],
                              scale_factor=v.merge, pad_token_id=ids[self.special.pad],
                              tie_word_embeddings=r.text.tie_embeddings)

    def model_class(self):
        from transformers import Idefics3ForConditionalGeneration

        return Idefics3ForConditionalGeneration

    def image_processor(self, r: Recipe):
        from transformers import Idefics3ImageProcessorPil

        side = {"longest_edge": r.image.side}
        return Idefics3ImageProcessorPil(do_image_splitting=False, size=side, max_image_size=side)

    def processor(self, r: Recipe, image_processor, tokenizer):
        from transformers import Idefics3Processor

        return Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                 image_seq_len=self.image_tokens(r), chat_template=self.chat_template)


ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in (Qwen2VL(), Qwen2_5VL(), Idefics3())}


def architecture(name: str, where: str = "architecture") -> Architecture:
    if name not in ARCHITECTURES:
        raise ConfigError(where, name, f"one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name]
