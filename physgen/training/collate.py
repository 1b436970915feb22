"""Batches for VLM fine-tuning: chat-formatted (image, prompt, answer) with loss on the answer only."""

from __future__ import annotations

from typing import Any

from physgen.policy.vlm import chat_text


class AnswerOnlyCollator:
    """Tokenizes full conversations; labels are -100 everywhere but on the answer tokens (and the
    end-of-turn token after them), so the loss is on the answer only."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        images = [[r["image"].convert("RGB")] for r in rows]
        full = [chat_text(self.processor, r["prompt"], r["answer"]) for r in rows]
        prompts = [chat_text(self.processor, r["prompt"]) for r in rows]
        batch = self.processor(text=full, images=images, return_tensors="pt", padding=True)
        # The prompt's length in model tokens without processing the images a second time: the
        # processor expands image placeholders (and adds any special tokens) identically in the
        # prompt and in the full text, so that expansion is the full text's processed length minus
        # its plain tokenization.
        tok = self.processor.tokenizer
        plain_full = tok(full, add_special_tokens=False)["input_ids"]
        plain_prompt = tok(prompts, add_special_tokens=False)["input_ids"]
        labels = batch["input_ids"].clone()
        mask = batch["attention_mask"]
        pad_left = tok.padding_side == "left"
        for i in range(len(rows)):
            processed = int(mask[i].sum())
            n = len(plain_prompt[i]) + processed - len(plain_full[i])
            start = int((mask[i] == 0).sum()) if pad_left else 0
            labels[i, : start + n] = -100
        labels[mask == 0] = -100
        batch["labels"] = labels
        return batch
