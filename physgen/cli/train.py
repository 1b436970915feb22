"""`physgen train`: SFT, GRPO and the expected reward of sampling policies."""

from __future__ import annotations

import json
from pathlib import Path

from physgen.cli.common import config_options, given
from physgen.config import to_dict
from physgen.training.grpo_config import MODES, GRPORunConfig
from physgen.training.sft_config import SFTRunConfig
from physgen.types import SPLITS

# the run-config fields each command offers as options (defaults: the dataclasses')
SFT_OPTIONS = ("steps", "rehearsal", "examples", "lora_rank", "batch_size", "save_steps", "seed")
GRPO_OPTIONS = ("steps", "examples", "rehearsal", "mode", "attempts", "num_generations", "prompts_per_step",
                "max_completion_length", "temperature", "learning_rate", "beta", "lora_rank", "reward_workers",
                "save_steps", "threads", "vllm_server", "seed")
OPTION_HELP = {
    "rehearsal": "fraction of rows (GRPO: prompts) that are pre-training (caption) questions, so other answer "
                 "formats are kept",
    "examples": "training scenes (seeds 100000 + i)",
    "save_steps": "checkpoint every N steps (resume after a kill)",
    "mode": "multi-step: after a failed attempt the model sees the scene and answers again",
    "attempts": "multi-step: answers per rollout at most",
    "num_generations": "completions per prompt (the group)",
    "max_completion_length": "tokens",
    "beta": "KL coefficient (0: no reference model)",
    "reward_workers": "processes executing completions in their own cells (0: in the trainer's process)",
    "threads": "torch CPU threads (results repeat at a fixed count)",
    "vllm_server": "one-step: generate on this `trl vllm-serve` server, e.g. http://gpu-box:8000 (needs vllm "
                   "installed)",
}


def add(sub) -> None:
    """Add this group's commands to the `physgen` subparsers ``sub``."""
    s = sub.add_parser("train", help="fine-tune a model")
    tsub = s.add_subparsers(dest="train_command", required=True)
    t = tsub.add_parser("sft", help="supervised fine-tuning on expert answers (TRL SFTTrainer, LoRA by default)")
    t.add_argument("--task", required=True, help="a task name, 'captions' for generic visual pre-training, or "
                                                 "several joined by + (multi-task)")
    t.add_argument("--model", required=True, help="a recipe name or a model directory")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default 2e-4 LoRA, 3e-4 full)")
    config_options(t, SFTRunConfig, SFT_OPTIONS, help=OPTION_HELP)
    t.set_defaults(func=cmd_train_sft)
    t = tsub.add_parser("grpo", help="RL with the physics in the loop (TRL GRPOTrainer, LoRA by default): every "
                                     "completion is executed in the robot cell and rewarded by the task")
    t.add_argument("--task", required=True, help="a task name")
    t.add_argument("--model", required=True, help="a recipe name or a model directory (e.g. an SFT run's OUT/model)")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    config_options(t, GRPORunConfig, GRPO_OPTIONS, help=OPTION_HELP, choices={"mode": MODES},
                   flags={"learning_rate": "--lr"})
    t.set_defaults(func=cmd_train_grpo)
    t = tsub.add_parser("reward", help="the expected reward of models' sampling policies on a task (what GRPO "
                                       "maximizes): sampled answers executed in the cell, paired over scenes")
    t.add_argument("--task", required=True, help="a task name")
    t.add_argument("--model", required=True, action="append", help="a model directory or recipe; repeat to "
                                                                   "compare (differences are to the first)")
    t.add_argument("--scenes", type=int, default=200, help="scenes: seeds FIRST_SEED + [0, N)")
    t.add_argument("--first-seed", type=int, default=0)
    t.add_argument("--split", choices=SPLITS, default="train")
    t.add_argument("--samples", type=int, default=16, help="sampled answers per scene")
    t.add_argument("--temperature", type=float, default=1.0, help="0: one greedy answer per scene")
    t.add_argument("--attempts", type=int, default=1, help="> 1: multi-step rollouts (the model sees the scene "
                                                           "after a failed attempt and answers again)")
    t.add_argument("--reward-workers", type=int, default=1)
    t.add_argument("--seed", type=int, default=0, help="sampling seed")
    t.add_argument("--out", type=Path, help="write the results as JSON here")
    t.set_defaults(func=cmd_train_reward)


def cmd_train_sft(args) -> int:
    from physgen.training.sft import train_sft

    lr = args.lr if args.lr is not None else (3e-4 if args.full else 2e-4)
    cfg = SFTRunConfig(task=args.task, model=args.model, out=args.out, lora=not args.full, learning_rate=lr,
                       **given(args, SFT_OPTIONS))
    final = train_sft(cfg)
    print(f"model: {final}\nlog: {args.out / 'log.jsonl'}")
    return 0


def cmd_train_grpo(args) -> int:
    from physgen.training.grpo import train_grpo

    cfg = GRPORunConfig(task=args.task, model=args.model, out=args.out, lora=not args.full,
                        **given(args, GRPO_OPTIONS))
    final = train_grpo(cfg)
    print(f"model: {final}\nlog: {args.out / 'log.jsonl'}")
    return 0


def cmd_train_reward(args) -> int:
    from physgen.training.policy_reward import PolicyRewardConfig, compare, table

    cfg = PolicyRewardConfig(task=args.task, scenes=args.scenes, first_seed=args.first_seed, split=args.split,
                             samples=args.samples, temperature=args.temperature, seed=args.seed,
                             reward_workers=args.reward_workers, attempts=args.attempts)
    results = compare(args.model, cfg)
    print(table(results))
    if args.out:
        doc = {"config": to_dict(cfg), "models": [r.to_dict() for r in results],
               "differences": [dict(zip(("mean", "low", "high"), r.difference(results[0]))) for r in results[1:]]}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2))
        print(f"results: {args.out}")
    return 0
