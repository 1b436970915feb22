"""The expected reward of a model's sampling policy on a task, the quantity GRPO maximizes (with
``attempts`` > 1, of its multi-step rollouts: the reward of each rollout's last answer).

Each scene's frame is answered ``samples`` times at ``temperature`` (or once, greedily, at
temperature 0); every answer is executed in the cell and rewarded by the task, exactly as in
training (:class:`~physgen.training.rewards.RewardPool`). A scene's reward is the mean over its
answers; a model's is the mean over scenes, with a 95% interval over scenes. Models are compared
on identical scenes and identical sampling seeds, so the paired difference has a tight interval.
"""

from __future__ import annotations

from dataclasses import dataclass

from physgen.config import in_range, one_of
from physgen.evaluation.stats import mean_interval
from physgen.training.rewards import RewardJob, RewardPool
from physgen.types import SPLITS


@dataclass(frozen=True)
class PolicyRewardConfig:
    task: str
    scenes: int = 200  # seeds first_seed + [0, scenes)
    first_seed: int = 0  # small seeds: never GRPO's or SFT's training prompts (TRAIN_SEED_BASE + i)
    split: str = "train"
    samples: int = 16  # answers per scene
    temperature: float = 1.0  # 0: greedy, one answer per scene
    seed: int = 0  # sampling seed
    reward_workers: int = 1
    attempts: int = 1  # > 1: multi-step rollouts (physgen.training.multistep), scored by their last answer
    max_new_tokens: int = 16

    def __post_init__(self) -> None:
        from physgen.tasks import task_names

        one_of("task", self.task, tuple(task_names()))
        in_range("scenes", self.scenes, 2, 1_000_000)
        in_range("first_seed", self.first_seed, 0, 2**31 - 1)
        one_of("split", self.split, SPLITS)
        in_range("samples", self.samples, 1, 4096)
        in_range("temperature", self.temperature, 0.0, 10.0)
        in_range("seed", self.seed, 0, 2**32 - 1)
        in_range("reward_workers", self.reward_workers, 0, 256)
        in_range("attempts", self.attempts, 1, 64)
        in_range("max_new_tokens", self.max_new_tokens, 1, 4096)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def answers_per_scene(self) -> int:
        return 1 if self.greedy else self.samples


@dataclass(frozen=True)
class ModelReward:
    model: str
    scene_rewards: list[float]  # mean reward per scene, in seed order
    success_rate: float  # over all rollouts (their last answers)
    parse_failure_rate: float
    first_success_rate: float  # of the first answers (= success_rate with one attempt)

    @property
    def mean(self) -> tuple[float, float, float]:
        """(mean, low, high): the mean scene reward and its 95% interval."""
        return mean_interval(self.scene_rewards)

    def difference(self, base: ModelReward) -> tuple[float, float, float]:
        """(mean, low, high) of the paired per-scene difference to ``base``."""
        return mean_interval([a - b for a, b in zip(self.scene_rewards, base.scene_rewards, strict=True)])

    def to_dict(self) -> dict:
        m, lo, hi = self.mean
        return {"model": self.model, "mean_reward": m, "interval": [lo, hi], "success_rate": self.success_rate,
                "parse_failure_rate": self.parse_failure_rate, "first_success_rate": self.first_success_rate,
                "scene_rewards": self.scene_rewards}


def observations(cfg: PolicyRewardConfig, progress=None) -> list:
    """The scenes' observations, rendered once for every model."""
    from physgen.cell.cell import RobotCell
    from physgen.evaluation.episode import begin
    from physgen.policy.base import Observation
    from physgen.tasks import load_task

    task = load_task(cfg.task)
    out = []
    with RobotCell() as cell:
        for seed in range(cfg.first_seed, cfg.first_seed + cfg.scenes):
            inst, image = begin(cell, task, seed, cfg.split)
            out.append(Observation(image, inst.prompt, task.name, seed, task.answer_format))  # no hidden facts
            if progress is not None:
                progress(1)
    return out


def model_reward(model: str, cfg: PolicyRewardConfig, obs: list, pool: RewardPool, progress=None) -> ModelReward:
    """Answer every observation ``cfg.answers_per_scene`` times with ``model`` (in multi-step rollouts
    when ``cfg.attempts`` > 1) and score each answer."""
    from physgen.policy.vlm import TransformersPolicy, VLMConfig

    k = cfg.answers_per_scene
    policy = TransformersPolicy(VLMConfig(model=model, do_sample=not cfg.greedy, temperature=cfg.temperature or 1.0,
                                          seed=cfg.seed, batch_size=k, max_new_tokens=cfg.max_new_tokens))
    rollout = _multistep(policy, cfg, pool) if cfg.attempts > 1 else None
    scene_rewards, finals, firsts = [], [], []
    try:
        for o in obs:
            if rollout is None:
                texts = policy.act_batch([o] * k)
                results = pool.score([RewardJob(cfg.task, o.seed, cfg.split, t) for t in texts])
                first = results
            else:
                results, first = rollout(o, k)
            scene_rewards.append(sum(r.reward for r in results) / k)
            finals += results
            firsts += first
            if progress is not None:
                progress(1)
    finally:
        policy.close()
    n = len(finals)
    return ModelReward(model, scene_rewards, sum(r.success for r in finals) / n,
                       sum(r.reason != "ok" for r in finals) / n, sum(r.success for r in firsts) / n)


def _multistep(policy, cfg: PolicyRewardConfig, pool: RewardPool):
    """``rollout(observation, k)`` -> (last results, first results) of k multi-step rollouts."""
    import numpy as np
    import torch
    from PIL import Image

    from physgen.training.multistep import generate_turn, run_rollouts

    tok = policy.processor.tokenizer
    eos = policy.model.generation_config.eos_token_id
    eos_ids = sorted({tok.eos_token_id, *(eos if isinstance(eos, list) else [eos] if eos is not None else [])})
    kwargs = dict(max_new_tokens=cfg.max_new_tokens, do_sample=not cfg.greedy)
    if not cfg.greedy:
        kwargs.update(temperature=cfg.temperature, top_p=1.0, top_k=0)

    def generate(seqs, images):
        return generate_turn(policy.model, policy.processor, seqs, images, eos_ids, **kwargs)

    def rollout(o, k: int):
        torch.manual_seed(int(np.random.SeedSequence([cfg.seed, o.seed]).generate_state(1)[0]))
        rows = [(cfg.task, o.seed, o.prompt, Image.fromarray(o.image))] * k
        rolls, _ = run_rollouts(rows, cfg.attempts, generate, pool.score, policy.processor, eos_ids, cfg.split)
        return [r.results[-1] for r in rolls], [r.results[0] for r in rolls]

    return rollout


def compare(models: list[str], cfg: PolicyRewardConfig, progress: bool = True) -> list[ModelReward]:
    """Every model's policy reward on the same scenes and sampling seeds (the first is the base)."""
    from tqdm import tqdm

    with tqdm(total=cfg.scenes, desc=f"scenes {cfg.task}", unit="scene", disable=not progress or None) as bar:
        obs = observations(cfg, bar.update)
    out = []
    with RewardPool(cfg.reward_workers) as pool:
        for m in models:
            with tqdm(total=len(obs), desc=f"answers {m}", unit="scene", disable=not progress or None) as bar:
                out.append(model_reward(m, cfg, obs, pool, bar.update))
    return out


def table(results: list[ModelReward]) -> str:
    """Markdown: each model's mean reward and interval, rates, and its paired difference to the first."""
    lines = ["| model | mean reward [95% CI] | success | first-answer success | parse failures | vs first [95% CI] |",
             "|---|---|---|---|---|---|"]
    for i, r in enumerate(results):
        m, lo, hi = r.mean
        diff = "" if i == 0 else "{:+.3f} [{:+.3f}, {:+.3f}]".format(*r.difference(results[0]))
        lines.append(f"| {r.model} | {m:.3f} [{lo:.3f}, {hi:.3f}] | {r.success_rate:.1%} | "
                     f"{r.first_success_rate:.1%} | {r.parse_failure_rate:.1%} | {diff} |")
    return "\n".join(lines)
