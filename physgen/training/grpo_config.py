"""Configuration of a GRPO run; saved beside the weights so the run can be repeated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from physgen.config import in_range, one_of, require
from physgen.training.sft_config import TRAIN_SEED_BASE, check_run

MODES = ("one-step", "multi-step")
_URL = re.compile(r"^https?://[^\s/]+(:\d+)?/?$")


@dataclass(frozen=True)
class GRPORunConfig:
    """GRPO with the physics in the loop (TRL ``GRPOTrainer``, PEFT LoRA). Defaults follow the study:
    LoRA rank 16, 16 completions per prompt, one answer per image (``one-step``). ``multi-step``
    rollouts are conversations of up to ``attempts`` answers (:mod:`physgen.training.multistep`)."""

    task: str
    model: str  # a recipe name (models/*.yaml) or a model directory, e.g. an SFT run's OUT/model
    out: Path
    steps: int = 200
    seed: int = 0
    examples: int = 256  # prompts: training scenes TRAIN_SEED_BASE + [0, examples)
    mode: str = "one-step"  # multi-step: after a failed attempt the model sees the scene and answers again
    attempts: int = 3  # multi-step: answers per rollout at most; the reward is the last one's
    num_generations: int = 16  # completions per prompt (the group)
    prompts_per_step: int = 1
    max_completion_length: int = 16  # tokens
    temperature: float = 1.0
    learning_rate: float = 1e-4
    beta: float = 0.04  # KL coefficient to the reference model (0: no reference, no KL)
    lora: bool = True
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    reward_workers: int = 1  # 0: score in the trainer's process
    save_steps: int = 50
    logging_steps: int = 1
    threads: int = 1  # torch CPU threads; results repeat exactly only at a fixed count
    rehearsal: float = 0.0  # fraction of prompts that are pre-training (caption) questions, rewarded by their answer
    dataset_cache: str = ""  # a directory where runs on the same scenes share their rendered rows
    vllm_server: str = ""  # one-step: generate on this TRL vLLM server (`trl vllm-serve`), e.g. http://gpu-box:8000

    def __post_init__(self) -> None:
        from physgen.tasks import task_names

        one_of("task", self.task, tuple(task_names()))
        one_of("mode", self.mode, MODES)
        check_run(self)
        in_range("attempts", self.attempts, 2 if self.mode == "multi-step" else 1, 64)
        in_range("num_generations", self.num_generations, 2, 1024)
        in_range("prompts_per_step", self.prompts_per_step, 1, 1024)
        in_range("max_completion_length", self.max_completion_length, 1, 8192)
        in_range("temperature", self.temperature, 0.01, 10.0)
        in_range("beta", self.beta, 0.0, 100.0)
        in_range("reward_workers", self.reward_workers, 0, 256)
        in_range("threads", self.threads, 1, 1024)
        require(not self.vllm_server or bool(_URL.match(self.vllm_server)), "vllm_server", self.vllm_server,
                "empty, or a server's base URL such as http://host:8000")
        require(self.rehearsal == 0 or self.mode == "one-step", "rehearsal", self.rehearsal,
                "0 with mode multi-step (caption questions have no scene to answer again)")
        require(not (self.vllm_server and self.mode == "multi-step"), "vllm_server", self.vllm_server,
                "empty with mode multi-step (its rollouts generate with transformers)")

    @property
    def dataset_seeds(self) -> list[int]:
        return [TRAIN_SEED_BASE + i for i in range(self.examples)]

    @property
    def batch_size(self) -> int:
        """Completions per optimizer step (TRL's per-device batch counts completions)."""
        return self.num_generations * self.prompts_per_step
