"""GRPO with the physics in the loop: TRL's ``GRPOTrainer`` (PEFT LoRA by default), rewards from
executing every completion in the robot cell (:mod:`physgen.training.rewards`). A run directory::

    OUT/physgen_grpo.json   the config                  OUT/dataset/    the prompts (frames, prompts)
    OUT/checkpoints/        trainer checkpoints         OUT/log.jsonl   one line per logging step
    OUT/model/              the final model (LoRA merged), loadable like any HF checkpoint

``log.jsonl`` holds TRL's metrics (``reward``, ``reward_std``, ``kl``, ``loss``, ...) plus
``parse_failure_rate``, ``success_rate``, ``reasons`` (codec reason counts), ``samples`` (the
step's first completions) and the step time split into ``generation_s``, ``reward_s`` and
``update_s``. A killed run resumes from its last complete checkpoint; the same config and seed give
the same reward curve.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import time
from collections import Counter
from pathlib import Path

from physgen.config import ConfigError, to_dict
from physgen.training import datasets as tds
from physgen.training.grpo_config import GRPORunConfig
from physgen.training.rewards import RewardJob, RewardPool
from physgen.training.sft import resume_point, save_final


def dataset_for(cfg: GRPORunConfig, progress=None):
    """The run's prompts: loaded from ``OUT/dataset`` when present, else built and saved there. Each
    row is a training scene's frame and its prompt as one user message (TRL puts the image first,
    as the policy does)."""
    # through a shared cache the rows carry answers (SFT's rows of the same scenes); GRPO ignores them
    ds = tds.run_rows(cfg, answers=bool(cfg.dataset_cache), progress=progress)
    return ds.map(lambda r: {"prompt": [{"role": "user", "content": r["prompt"]}]},
                  remove_columns=["answer", "variant"])


class PhysicsReward:
    """TRL reward function: every completion executed in the cell (``source`` and ``seed`` are the
    dataset's columns). Keeps the time it spent and the codec's reason codes for the log."""

    __name__ = "physics"

    def __init__(self, pool):
        self.pool = pool
        self.seconds = 0.0
        self.reasons: Counter[str] = Counter()
        self.samples: list[str] = []  # the latest batch's first completions, for the log

    def __call__(self, prompts, completions, completion_ids=None, source=None, seed=None, log_metric=None,
                 log_extra=None, **_):
        texts = [c[0]["content"] if isinstance(c, list) else str(c) for c in completions]
        results = self.score([RewardJob(str(t), int(s), "train", text) for t, s, text in zip(source, seed, texts)])
        self.samples = texts[:8]
        if log_metric is not None:
            log_metric("parse_failure_rate", sum(r.reason != "ok" for r in results) / len(results))
            log_metric("success_rate", sum(r.success for r in results) / len(results))
        if log_extra is not None:
            log_extra("reason", [r.reason for r in results])
        return [r.reward for r in results]


    def score(self, jobs: list[RewardJob]):
        """The pool's results for ``jobs``, timed and with their reason codes counted."""
        t0 = time.perf_counter()
        results = self.pool.score(jobs)
        self.seconds += time.perf_counter() - t0
        self.reasons.update(r.reason for r in results)
        return results


def _trainer_class():
    """The one subclass of TRL's GRPOTrainer. It overrides one private TRL method,
    ``_generate_and_score_completions(inputs)`` (tests/unit/test_trl_hooks.py fails loudly when TRL
    changes it or the private methods the multi-step rollouts call): to time generation and scoring
    for the step-time split, and in multi-step mode to roll out several attempts with the cell's
    feedback (:func:`physgen.training.multistep.multistep_trainer`)."""
    from trl import GRPOTrainer

    from physgen.training.multistep import multistep_trainer

    class PhysicsGRPOTrainer(multistep_trainer(GRPOTrainer)):
        def __init__(self, *args, physics: PhysicsReward, attempts: int = 1, multi_step: bool = False, **kwargs):
            super().__init__(*args, **kwargs)
            self.physics, self.attempts, self.multi_step = physics, attempts, multi_step
            self.generate_and_score_s = 0.0

        def _generate_and_score_completions(self, inputs):
            t0 = time.perf_counter()
            try:
                if self.multi_step:
                    return self.multi_step_completions(inputs)
                return super()._generate_and_score_completions(inputs)
            finally:
                self.generate_and_score_s += time.perf_counter() - t0

    return PhysicsGRPOTrainer


def _log_callback(path: Path, reward: PhysicsReward, trainer_ref: list):
    from transformers import TrainerCallback

    class JsonLog(TrainerCallback):
        """One JSON line per log: TRL's metrics, the reason codes and the step time split."""

        last = {"gen_score": 0.0, "reward": 0.0}

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "reward" not in logs:
                return
            trainer = trainer_ref[0]
            gen_score = trainer.generate_and_score_s - self.last["gen_score"]
            reward_s = reward.seconds - self.last["reward"]
            self.last = {"gen_score": trainer.generate_and_score_s, "reward": reward.seconds}
            steps = max(1, args.logging_steps)
            step_s = float(logs.get("step_time", 0.0))
            split = {"generation_s": (gen_score - reward_s) / steps, "reward_s": reward_s / steps,
                     "update_s": max(0.0, step_s - gen_score / steps)}
            line = {"step": state.global_step, **logs, **{k: round(v, 4) for k, v in split.items()},
                    "reasons": dict(reward.reasons), "samples": reward.samples}
            reward.reasons.clear()
            with path.open("a") as f:
                f.write(json.dumps(line) + "\n")

    return JsonLog()


def trl_args(cfg: GRPORunConfig, progress: bool = True) -> dict:
    """TRL ``GRPOConfig`` arguments of a run: float32 on CPU (bf16 on a GPU that has it), no gradient
    checkpointing, the per-device batch counted in completions; generation on a vLLM server when
    ``cfg.vllm_server`` is set."""
    import torch

    cuda = torch.cuda.is_available()
    out = Path(cfg.out)
    args = dict(
        output_dir=str(out / "checkpoints"), max_steps=cfg.steps, per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=1, num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature,
        learning_rate=cfg.learning_rate, beta=cfg.beta, logging_steps=cfg.logging_steps,
        save_steps=cfg.save_steps, save_total_limit=2, seed=cfg.seed, data_seed=cfg.seed, report_to=[],
        disable_tqdm=not progress, dataloader_num_workers=0, use_cpu=not cuda,
        bf16=cuda and torch.cuda.is_bf16_supported(), fp16=False, gradient_checkpointing=False,
        log_completions=False,
    )
    if cfg.vllm_server:
        args.update(use_vllm=True, vllm_mode="server", vllm_server_base_url=cfg.vllm_server.rstrip("/"))
    return args


def train_grpo(cfg: GRPORunConfig, progress: bool = True, callbacks=(), scorer=None) -> Path | None:
    """Run (or resume) GRPO; returns the final model directory ``OUT/model`` (None when a callback
    stopped the run early). ``callbacks`` are extra
    ``transformers.TrainerCallback``s; ``scorer`` replaces the reward pool (anything with
    ``score(list[RewardJob]) -> list[RewardResult]``, e.g. the cell nodes on a ROS graph)."""
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForImageTextToText
    from trl import GRPOConfig

    from physgen.models.processor import load_processor
    from physgen.models.recipes import resolve_model

    if cfg.vllm_server and importlib.util.find_spec("vllm") is None:
        raise ConfigError("vllm_server", cfg.vllm_server, "empty, or vllm installed here (pip install vllm)")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "physgen_grpo.json").write_text(json.dumps(to_dict(cfg), indent=2))
    torch.set_num_threads(cfg.threads)
    from tqdm import tqdm

    total = cfg.examples + tds.rehearsal_rows(cfg.examples, cfg.rehearsal)
    with tqdm(total=total, desc=f"prompts {cfg.task}", unit="row", disable=not progress or None) as bar:
        ds = dataset_for(cfg, bar.update)
    model_dir = resolve_model(cfg.model)
    processor = load_processor(model_dir)
    processor.tokenizer.padding_side = "left"  # GRPO generates from left-padded prompts
    torch.manual_seed(cfg.seed)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    peft_config = (LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                              target_modules="all-linear", task_type="CAUSAL_LM") if cfg.lora else None)
    args = GRPOConfig(**trl_args(cfg, progress))
    with contextlib.ExitStack() as stack:
        if scorer is None:
            scorer = stack.enter_context(RewardPool(cfg.reward_workers))
        reward = PhysicsReward(scorer)
        ref: list = []
        trainer = _trainer_class()(model=model, reward_funcs=reward, args=args, train_dataset=ds,
                                   processing_class=processor, peft_config=peft_config,
                                   callbacks=[_log_callback(out / "log.jsonl", reward, ref), *callbacks],
                                   physics=reward, attempts=cfg.attempts, multi_step=cfg.mode == "multi-step")
        ref.append(trainer)
        trainer.train(resume_from_checkpoint=resume_point(out))
    if trainer.state.global_step < cfg.steps:  # stopped early (a shutdown); its checkpoint resumes it
        return None
    return save_final(trainer.model, cfg.lora, processor, model_dir, out / "model")
