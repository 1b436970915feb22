"""Sample efficiency, as in the study: how many SFT steps on task B a model needs to reach a success
criterion, starting from the base model versus from a model trained on task A.

Each start model is fine-tuned on B (the same dataset, seed and settings for all); before the first
step and every ``eval_every`` steps the model being trained plays ``episodes`` greedy episodes of B
(train-split seeds from ``first_seed``, never training scenes) through the one episode loop. The
run stops at the first evaluation that reaches ``criterion``; its step is the answer (None: not
within ``max_steps``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from physgen.config import in_range, require, to_dict


@dataclass(frozen=True)
class EfficiencyConfig:
    task: str
    models: tuple[str, ...]  # start models: the base first, then models trained on other tasks
    out: Path
    criterion: float = 0.8  # success rate
    max_steps: int = 300
    eval_every: int = 25
    episodes: int = 50
    first_seed: int = 0
    examples: int = 1024
    lora: bool = False
    learning_rate: float = 3e-4
    batch_size: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        from physgen.tasks import task_names

        require(self.task in task_names(), "task", self.task, f"one of {task_names()}")
        require(len(self.models) >= 1, "models", self.models, "one or more start models")
        require(0.0 < self.criterion <= 1.0, "criterion", self.criterion, "a success rate in (0, 1]")
        in_range("max_steps", self.max_steps, 1, 1_000_000)
        in_range("eval_every", self.eval_every, 1, self.max_steps)
        in_range("episodes", self.episodes, 1, 100_000)


@dataclass
class Curve:
    model: str
    points: list[tuple[int, float]] = field(default_factory=list)  # (SFT step, success rate)
    reached: int | None = None  # the first step at or above the criterion


def _evaluator(cfg: EfficiencyConfig, curve: Curve, processor):
    from transformers import TrainerCallback

    from physgen.cell.cell import RobotCell
    from physgen.evaluation.episode import run_episode
    from physgen.policy.vlm import TransformersPolicy
    from physgen.tasks import load_task
    from physgen.tasks.oracle import Oracles

    task = load_task(cfg.task)

    def success(model) -> float:
        tok = processor.tokenizer
        side, training = tok.padding_side, model.training
        tok.padding_side = "left"
        model.eval()
        oracles = Oracles()
        try:
            policy = TransformersPolicy.wrap(model, processor)
            with RobotCell() as cell:
                wins = sum(run_episode(cell, task, s, "train", policy, oracles).success
                           for s in range(cfg.first_seed, cfg.first_seed + cfg.episodes))
        finally:
            oracles.close()
            tok.padding_side = side
            model.train(training)
        return wins / cfg.episodes

    class EvaluateEvery(TrainerCallback):
        def _check(self, step, model, control):
            rate = success(model)
            curve.points.append((step, rate))
            if rate >= cfg.criterion and curve.reached is None:
                curve.reached = step
                control.should_training_stop = True

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if state.global_step == 0:
                self._check(0, model, control)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step % cfg.eval_every == 0 and curve.reached is None:
                self._check(state.global_step, model, control)

    return EvaluateEvery()


def measure(cfg: EfficiencyConfig, progress: bool = True) -> list[Curve]:
    """One curve per start model (``OUT/<i>/``: its SFT run); ``OUT/efficiency.json`` holds them all."""
    from physgen.models.processor import load_processor
    from physgen.models.recipes import resolve_model
    from physgen.training.sft import train_sft
    from physgen.training.sft_config import SFTRunConfig

    out = Path(cfg.out)
    curves = []
    for i, model in enumerate(cfg.models):
        run = out / str(i)
        if i > 0 and not (run / "dataset").exists() and (out / "0" / "dataset").exists():
            shutil.copytree(out / "0" / "dataset", run / "dataset")  # the same data for every start
        sft = SFTRunConfig(task=cfg.task, model=model, out=run, steps=cfg.max_steps, seed=cfg.seed,
                           examples=cfg.examples, lora=cfg.lora,
                           learning_rate=cfg.learning_rate, batch_size=cfg.batch_size, save_steps=cfg.max_steps,
                           sample_answers=0)
        curve = Curve(model)
        train_sft(sft, progress, callbacks=[_evaluator(cfg, curve, load_processor(resolve_model(model)))])
        curves.append(curve)
    doc = {"config": to_dict(cfg), "curves": [{"model": c.model, "points": c.points, "reached": c.reached}
                                              for c in curves]}
    (out / "efficiency.json").write_text(json.dumps(doc, indent=2))
    return curves


def table(cfg: EfficiencyConfig, curves: list[Curve]) -> str:
    base = curves[0].reached
    lines = [f"SFT steps on {cfg.task} to reach {cfg.criterion:.0%} success ({cfg.episodes} episodes every "
             f"{cfg.eval_every} steps, at most {cfg.max_steps})",
             "| start model | steps | saved vs the first | curve |", "|---|---|---|---|"]
    for c in curves:
        steps = "not reached" if c.reached is None else str(c.reached)
        saved = "" if c is curves[0] or c.reached is None or base is None else str(base - c.reached)
        points = ", ".join(f"{s}: {r:.0%}" for s, r in c.points)
        lines.append(f"| {c.model} | {steps} | {saved} | {points} |")
    return "\n".join(lines)
