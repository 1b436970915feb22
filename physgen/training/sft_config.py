"""Configuration of an SFT run; saved beside the weights so the run can be repeated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from physgen.config import in_range, require

TRAIN_SEED_BASE = 100_000  # training scenes use seeds from here; evaluation uses small seeds


def check_run(cfg) -> None:
    """The settings every training run has (SFT and GRPO alike), checked the same way."""
    require(bool(cfg.model), "model", cfg.model, "a recipe name or a model directory")
    in_range("steps", cfg.steps, 1, 10_000_000)
    in_range("examples", cfg.examples, 1, 10_000_000)
    in_range("lora_rank", cfg.lora_rank, 1, 1024)
    in_range("lora_alpha", cfg.lora_alpha, 1, 4096)
    in_range("lora_dropout", cfg.lora_dropout, 0.0, 0.9)
    in_range("learning_rate", cfg.learning_rate, 1e-8, 1.0)
    in_range("save_steps", cfg.save_steps, 1, 1_000_000)
    in_range("logging_steps", cfg.logging_steps, 1, 1_000_000)
    in_range("rehearsal", cfg.rehearsal, 0.0, 0.9)


@dataclass(frozen=True)
class SFTRunConfig:
    """``task`` is a task name, ``captions`` for the generic visual pre-training stage, or several
    joined by ``+`` (multi-task SFT, the same number of scenes of each)."""

    task: str
    model: str  # a recipe name (models/*.yaml) or a model directory
    out: Path
    steps: int = 300
    seed: int = 0
    examples: int = 512  # dataset rows: scenes TRAIN_SEED_BASE + [0, examples)
    lora: bool = True  # False: full fine-tuning (tiny models)
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    learning_rate: float = 2e-4
    batch_size: int = 8
    grad_accum: int = 1
    warmup_steps: int = 10
    save_steps: int = 50
    logging_steps: int = 5
    sample_answers: int = 16  # greedy answers logged after training, for the policy to reproduce
    rehearsal: float = 0.0  # fraction of rows that are pre-training (caption) questions; 0: the study's pure condition
    dataset_cache: str = ""  # a directory where runs on the same scenes share their rendered rows

    def __post_init__(self) -> None:
        from physgen.tasks import task_names

        for t in self.task.split("+"):
            require(t in (*task_names(), "captions"), "task", self.task, "task names or 'captions', joined by +")
        check_run(self)
        in_range("batch_size", self.batch_size, 1, 4096)
        in_range("grad_accum", self.grad_accum, 1, 4096)
        in_range("warmup_steps", self.warmup_steps, 0, 1_000_000)
        in_range("sample_answers", self.sample_answers, 0, 10_000)

    @property
    def dataset_seeds(self) -> list[int]:
        return [TRAIN_SEED_BASE + i for i in range(self.examples)]
