"""Multi-step GRPO (``mode: multi-step``): the model answers, the arm executes the answer, and while
the attempt failed and attempts remain, the model sees the settled scene after its attempt and
answers again. Every attempt starts from the scene's saved start state; the reward is the final
attempt's.

TRL 1.x puts images into later turns only through tool calls, which needs a tool-calling chat
template. This module is the smallest loop that does without: it generates the turns itself and
hands TRL's loss the batch it expects. The whole conversation after the first prompt is the
completion; the environment's turns (the feedback text and image) are masked out of the loss with
TRL's ``tool_mask``, and every image of a conversation goes to the forward pass in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from physgen.policy.vlm import chat_text, user_turn
from physgen.training.rewards import RewardJob, RewardResult

FEEDBACK = "Attempt {attempt} of {attempts}: the scene after your last answer, which did not succeed. {prompt}"
_MARK = "\u2063ANSWER\u2063"  # stands for the model's answer while the template is measured


def feedback(prompt: str, attempt: int, attempts: int) -> str:
    """The text of the environment's turn before attempt ``attempt`` (2, 3, ...)."""
    return FEEDBACK.format(attempt=attempt, attempts=attempts, prompt=prompt)


def turn_suffix(processor, text: str, ended: bool) -> str:
    """Chat-template text from the end of the model's answer to the next generation prompt: the rest
    of the assistant turn (without the end-of-turn token when the model generated it, ``ended``), a
    user turn with an image and ``text``, and the generation prompt."""
    eos = processor.tokenizer.eos_token
    base = [user_turn("x"), {"role": "assistant", "content": [{"type": "text", "text": _MARK}]}]
    before = processor.apply_chat_template(base, tokenize=False)
    after = processor.apply_chat_template([*base, user_turn(text)], add_generation_prompt=True, tokenize=False)
    if not after.startswith(before):
        raise ValueError("multi-step GRPO needs a chat template that keeps earlier turns unchanged")
    rest = before[before.rindex(_MARK) + len(_MARK):]
    if ended:
        if not rest.startswith(eos):
            raise ValueError(f"the chat template does not end an assistant turn with the EOS token {eos!r}")
        rest = rest[len(eos):]
    return rest + after[len(before):]


@dataclass
class Rollout:
    """One conversation: completion tokens after the first prompt (``mask`` 1 on the model's own
    tokens), every image seen so far, the answers and their results."""

    source: str
    seed: int
    prompt: str
    images: list
    ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    results: list[RewardResult] = field(default_factory=list)

    def done(self, attempts: int) -> bool:
        return bool(self.results) and (self.results[-1].success or len(self.results) >= attempts)

    def add(self, ids: list[int], own: bool) -> None:
        self.ids += ids
        self.mask += [int(own)] * len(ids)


def first_prompt_ids(processor, prompt: str, image) -> list[int]:
    """Token ids of the first turn exactly as the policy renders it (image first, then the prompt)."""
    enc = processor(images=[[image]], text=[chat_text(processor, prompt)], return_tensors="pt")
    return enc["input_ids"][0].tolist()


def image_token_id(tokenizer) -> int | None:
    """The id of the image placeholder token the processor expands (as TRL looks it up), or None."""
    for candidate in ("<|image_pad|>", "<|image|>"):
        tid = tokenizer.convert_tokens_to_ids(candidate)
        if tid != tokenizer.unk_token_id:
            return tid
    return None


def vision_inputs(processor, ids, images: list[list]) -> dict:
    """The model's image inputs for token ids ``ids`` (batch x length) holding ``images`` (per row, in
    order): pixel values, grid sizes, and which tokens are image placeholders."""
    flat = [im for ims in images for im in ims]
    return {**processor.image_processor(images=flat, return_tensors="pt"),
            "mm_token_type_ids": (ids == image_token_id(processor.tokenizer)).long()}


def generate_turn(model, processor, seqs: list[list[int]], images: list[list], eos_ids: list[int],
                  **generate_kwargs) -> list[list[int]]:
    """One answer for each token sequence (up to and including its first EOS), its images in order."""
    import torch
    from trl.trainer.utils import pad

    tok = processor.tokenizer
    ids = pad([torch.tensor(s) for s in seqs], padding_value=tok.pad_token_id, padding_side="left")
    attn = pad([torch.ones(len(s), dtype=torch.long) for s in seqs], padding_value=0, padding_side="left")
    inputs = {"input_ids": ids, "attention_mask": attn, **vision_inputs(processor, ids, images)}
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    with torch.no_grad():
        out = model.generate(**inputs, **generate_kwargs)
    answers = []
    for row in out[:, ids.size(1):].cpu().tolist():
        end = next((i + 1 for i, t in enumerate(row) if t in eos_ids), len(row))
        answers.append(row[:end])
    return answers


def run_rollouts(rows: list[tuple[str, int, str, object]], attempts: int, generate, score, processor,
                 eos_ids: list[int], split: str = "train") -> tuple[list[Rollout], list[list[int]]]:
    """Multi-step rollouts of ``rows`` ((task, seed, prompt, first image) each): ``generate(seqs, images)``
    answers token sequences, ``score(jobs)`` executes answers (a reward pool's ``score``). Returns the
    rollouts and each one's first-prompt token ids."""
    from PIL import Image

    tok = processor.tokenizer
    rollouts = [Rollout(source, int(seed), prompt, [image]) for source, seed, prompt, image in rows]
    prompt_ids = [first_prompt_ids(processor, r.prompt, r.images[0]) for r in rollouts]
    for attempt in range(1, attempts + 1):
        active = [i for i, r in enumerate(rollouts) if not r.done(attempts)]
        if not active:
            break
        new = generate([prompt_ids[i] + rollouts[i].ids for i in active], [rollouts[i].images for i in active])
        last = attempt == attempts
        for i, ids in zip(active, new):
            rollouts[i].add(ids, own=True)
            rollouts[i].answers.append(tok.decode(ids, skip_special_tokens=True))
        results = score([RewardJob(rollouts[i].source, rollouts[i].seed, split, rollouts[i].answers[-1],
                                   frame=not last) for i in active])
        for i, ids, res in zip(active, new, results):
            r = rollouts[i]
            r.results.append(res)
            if r.done(attempts):
                continue
            image = Image.fromarray(res.frame)
            text = turn_suffix(processor, feedback(r.prompt, attempt + 1, attempts),
                               ended=bool(ids) and ids[-1] in eos_ids)
            r.add(processor(images=[[image]], text=[text], return_tensors="pt")["input_ids"][0].tolist(), own=False)
            r.images.append(image)
    return rollouts, prompt_ids


def multistep_trainer(base):
    """A subclass of the GRPO trainer class ``base`` that can roll out multi-step conversations:
    :meth:`multi_step_completions` is what TRL's ``_generate_and_score_completions`` returns, for
    rollouts of up to ``attempts`` answers scored by ``physics`` (a
    :class:`~physgen.training.grpo.PhysicsReward`); :mod:`physgen.training.grpo`'s trainer calls it
    from its one override of that TRL method."""
    import torch
    from trl.models import unwrap_model_for_generation
    from trl.trainer.utils import nanstd, pad, use_adapter

    class MultiStepGRPOTrainer(base):
        def _generate_turn(self, seqs: list[list[int]], images: list[list]) -> list[list[int]]:
            """One answer per sequence from the model being trained, sampled as TRL samples."""
            with (unwrap_model_for_generation(
                    self.model_wrapped, self.accelerator, gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                    generation_kwargs=self.generation_kwargs,
                    gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs) as model,
                  self._dist.summon_full_params(self.model_wrapped, recurse=False)):
                return generate_turn(model, self.processing_class, seqs, images, self.eos_token_ids,
                                     generation_config=self.generation_config)

        def multi_step_completions(self, inputs):
            device = self.accelerator.device
            mode = "train" if self.model.training else "eval"
            tok = self.processing_class.tokenizer
            rows = [(str(x["source"]), int(x["seed"]), _text(x["prompt"]), x["image"]) for x in inputs]
            rollouts, prompt_list = run_rollouts(rows, self.attempts, self._generate_turn, self.physics.score,
                                                 self.processing_class, self.eos_token_ids)
            prompt_ids = pad([torch.tensor(p) for p in prompt_list], padding_value=tok.pad_token_id,
                             padding_side="left").to(device)
            prompt_mask = pad([torch.ones(len(p), dtype=torch.long) for p in prompt_list], padding_value=0,
                              padding_side="left").to(device)
            completion_ids = pad([torch.tensor(r.ids) for r in rollouts], padding_value=tok.pad_token_id,
                                 padding_side="right").to(device)
            completion_mask = pad([torch.ones(len(r.ids), dtype=torch.long) for r in rollouts], padding_value=0,
                                  padding_side="right").to(device)
            tool_mask = pad([torch.tensor(r.mask) for r in rollouts], padding_value=1, padding_side="right").to(device)
            input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
            attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)
            forward = {k: v.to(device) for k, v in
                       vision_inputs(self.processing_class, input_ids, [r.images for r in rollouts]).items()}
            num_images = [len(r.images) for r in rollouts]
            keep = completion_ids.size(1)
            batch = self.args.per_device_train_batch_size if mode == "train" else self.args.per_device_eval_batch_size

            def logps(model):
                return self._get_per_token_logps_and_entropies(model, input_ids, attention_mask, keep, batch_size=batch,
                                                               num_images=num_images, **forward)[0]

            with torch.no_grad():
                generate_every = self.args.steps_per_generation * self.num_iterations
                old = logps(self.model) if self.args.gradient_accumulation_steps % generate_every != 0 else None
                ref = None
                if self.beta != 0.0:
                    if self.ref_model is not None:
                        ref = logps(self.ref_model)
                    else:
                        unwrapped = self.accelerator.unwrap_model(self.model)
                        with use_adapter(unwrapped, adapter_name="ref" if "ref" in unwrapped.peft_config else None):
                            ref = logps(self.model)

            local = torch.tensor([r.results[-1].reward for r in rollouts], dtype=torch.float32, device=device)
            rewards = self.accelerator.gather(local)
            grouped = rewards.view(-1, self.num_generations)
            mean = grouped.mean(dim=1).repeat_interleave(self.num_generations)
            std = nanstd(grouped, dim=1).repeat_interleave(self.num_generations)
            if self.scale_rewards == "batch":
                std = nanstd(rewards).expand_as(rewards)
            advantages = rewards - mean
            if self.scale_rewards != "none":
                advantages = advantages / (std + 1e-4)
            n = len(rollouts)
            advantages = advantages[self.accelerator.process_index * n:(self.accelerator.process_index + 1) * n]
            loss_mask = completion_mask * tool_mask
            self._log_rollouts(mode, rollouts, rewards, std, loss_mask)
            out = {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids,
                   "completion_mask": completion_mask, "advantages": advantages, "tool_mask": tool_mask,
                   "num_items_in_batch": self.accelerator.gather(loss_mask.sum()).sum(), "num_images": num_images,
                   **forward}
            if old is not None:
                out["old_per_token_logps"] = old
            if ref is not None:
                out["ref_per_token_logps"] = ref
            return out

        def _log_rollouts(self, mode, rollouts, rewards, std, loss_mask) -> None:
            m = self._metrics[mode]
            own = self.accelerator.gather(loss_mask.sum(dim=1)).float()
            self.state.num_input_tokens_seen += int(own.sum().item())
            m["num_tokens"] = [self.state.num_input_tokens_seen]
            m["completions/mean_length"].append(own.mean().item())
            m["completions/min_length"].append(own.min().item())
            m["completions/max_length"].append(own.max().item())
            m["reward"].append(rewards.mean().item())
            m["reward_std"].append(nanstd(rewards).item())
            m["rewards/physics/mean"].append(rewards.mean().item())
            m["frac_reward_zero_std"].append(torch.isclose(std, torch.zeros_like(std)).float().mean().item())
            finals = [r.results[-1] for r in rollouts]
            m["success_rate"].append(sum(f.success for f in finals) / len(finals))
            m["parse_failure_rate"].append(sum(f.reason != "ok" for f in finals) / len(finals))
            m["first_attempt_success_rate"].append(sum(r.results[0].success for r in rollouts) / len(rollouts))
            m["attempts_mean"].append(sum(len(r.results) for r in rollouts) / len(rollouts))
            self.physics.samples = [" | ".join(r.answers) for r in rollouts[:8]]

    return MultiStepGRPOTrainer


def _text(prompt) -> str:
    """The prompt text of a dataset row's conversational prompt (one user message)."""
    content = prompt[-1]["content"] if isinstance(prompt, list) else prompt
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if part.get("type") == "text")
    return str(content)
