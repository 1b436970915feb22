"""Batches for VLM fine-tuning: chat-formatted (image, prompt, answer) with loss on the answer only."""

from __future__ import annotations

from typing import Any

from physgen.policy.vlm import user_turn


def chat_texts(processor, prompt: str, answer: str | None = None) -> str:
    """The chat text of a prompt (with the generation prompt) or of a prompt and its answer."""
    messages = [user_turn(prompt)]
    if answer is None:
        return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return processor.apply_chat_template(messages, add_generation_prompt=False, tokenize=False)


class AnswerOnlyCollator:
    """Tokenizes full conversations; labels are -100 everywhere but on the answer tokens (and the
    end-of-turn token after them), so the loss is on the answer only."""

    def __init__(self, processor):
        self.processor = processor
        self.pad_id = processor.tokenizer.pad_token_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        images = [[r["image"].convert("RGB")] for r in rows]
        full = [chat_texts(self.processor, r["prompt"], r["answer"]) for r in rows]
        prompts = [chat_texts(self.processor, r["prompt"]) for r in rows]
        batch = self.processor(text=full, images=images, return_tensors="pt", padding=True)
        prompt_ids = self.processor(text=prompts, images=images, return_tensors="pt", padding=True)
        labels = batch["input_ids"].clone()
        prompt_lengths = prompt_ids["attention_mask"].sum(dim=1)
        pad_left = self.processor.tokenizer.padding_side == "left"
        for i, n in enumerate(prompt_lengths.tolist()):
            start = int((batch["attention_mask"][i] == 0).sum()) if pad_left else 0
            labels[i, : start + n] = -100
        labels[batch["attention_mask"] == 0] = -100
        batch["labels"] = labels
        return batch
