"""The ``physgen`` command. ``physgen --help`` lists the subcommands."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from physgen.config import ConfigError, build, load_yaml, one_of, to_dict
from physgen.policy.factory import POLICIES, make_policy
from physgen.preflight import writable_dir
from physgen.types import SPLITS

# module -> the extra that installs it (a missing one is named with its install command)
EXTRA_MODULES = {**dict.fromkeys(("torch", "transformers", "trl", "peft", "datasets", "accelerate", "tokenizers",
                                  "safetensors"), "vlm"),
                 **dict.fromkeys(("rclpy", "sensor_msgs", "std_msgs", "rcl_interfaces", "rosbags", "mcap"), "ros"),
                 **dict.fromkeys(("cv2", "matplotlib"), "report")}


COMMANDS = "physgen.commands"  # entry points: callables that add subcommands to the `physgen` parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["eval", "merge"]:  # a subcommand of eval, whose own arguments argparse cannot mix with it
        argv = ["eval-merge", *argv[2:]]
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"physgen: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        extra = EXTRA_MODULES.get((e.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"physgen: error: this command needs {e.name!r}, from the {extra} extra: pip install "
              f"'physgen[{extra}]' (in a checkout: .venv/bin/pip install -e '.[{extra}]'; with ROS 2 "
              "installed, source it instead of the ros extra)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("physgen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


def _add_plugin_commands(sub) -> None:
    """Subcommands other packages contribute through the entry point group :data:`COMMANDS`
    (``physgen_nodes`` adds ``node`` and ``bringup``): the core never imports the ROS adapters."""
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=COMMANDS), key=lambda e: e.name):
        entry.load()(sub)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="physgen", description="Physics tasks for vision-language models in a "
                                "PyBullet robot cell: render, roll out policies, report.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("tasks", help="list the tasks, one line each")
    s.set_defaults(func=cmd_tasks)

    s = sub.add_parser("render", help="write the image a model sees for (task, seed) as PNG")
    s.add_argument("--task", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--split", choices=SPLITS, default="train")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--prompt", action="store_true", help="also print the prompt")
    _cell_arg(s)
    s.set_defaults(func=cmd_render)

    s = sub.add_parser("rollout", help="run episodes of one policy on one task; print success with a 95%% CI")
    s.add_argument("--policy", choices=POLICIES, default="expert")
    s.add_argument("--task", required=True)
    s.add_argument("--episodes", type=int, default=20)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--split", choices=SPLITS, default="train")
    s.add_argument("--out", type=Path, help="write one JSON record per episode (JSONL) here")
    _model_arg(s)
    _cell_arg(s)
    s.set_defaults(func=cmd_rollout)

    s = sub.add_parser("model", help="build or list model recipes (models/*.yaml)")
    msub = s.add_subparsers(dest="model_command", required=True)
    m = msub.add_parser("build", help="build a tiny recipe's model locally (tokenizer, processor, random weights)")
    m.add_argument("recipe", help="a recipe name or YAML path")
    m.add_argument("--out", type=Path, help="directory (default: the model cache, models/checkpoints/)")
    m.add_argument("--seed", type=int, help="weights seed (default: the recipe's)")
    m.set_defaults(func=cmd_model_build)
    m = msub.add_parser("list", help="list the recipes")
    m.set_defaults(func=cmd_model_list)

    s = sub.add_parser("train", help="fine-tune a model")
    tsub = s.add_subparsers(dest="train_command", required=True)
    t = tsub.add_parser("sft", help="supervised fine-tuning on expert answers (TRL SFTTrainer, LoRA by default)")
    t.add_argument("--task", required=True, help="a task name, 'captions' for generic visual pre-training, or "
                                                 "several joined by + (multi-task)")
    t.add_argument("--model", required=True, help="a recipe name or a model directory")
    t.add_argument("--steps", type=int, default=300)
    t.add_argument("--rehearsal", type=float, default=0.0, help="fraction of rows that are pre-training (caption) "
                                                                "questions, so other answer formats are kept")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--examples", type=int, default=512, help="training scenes (seeds 100000 + i)")
    t.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    t.add_argument("--lora-rank", type=int, default=16)
    t.add_argument("--lr", type=float, default=None, help="learning rate (default 2e-4 LoRA, 3e-4 full)")
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--save-steps", type=int, default=50, help="checkpoint every N steps (resume after a kill)")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=cmd_train_sft)
    t = tsub.add_parser("grpo", help="RL with the physics in the loop (TRL GRPOTrainer, LoRA by default): every "
                                     "completion is executed in the robot cell and rewarded by the task")
    t.add_argument("--task", required=True, help="a task name")
    t.add_argument("--model", required=True, help="a recipe name or a model directory (e.g. an SFT run's OUT/model)")
    t.add_argument("--steps", type=int, default=200)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--examples", type=int, default=256, help="training scenes (seeds 100000 + i)")
    t.add_argument("--rehearsal", type=float, default=0.0, help="fraction of prompts that are pre-training "
                                                                "(caption) questions, rewarded by their answer")
    t.add_argument("--mode", choices=("one-step", "multi-step"), default="one-step",
                   help="multi-step: after a failed attempt the model sees the scene and answers again")
    t.add_argument("--attempts", type=int, default=3, help="multi-step: answers per rollout at most")
    t.add_argument("--num-generations", type=int, default=16, help="completions per prompt (the group)")
    t.add_argument("--prompts-per-step", type=int, default=1)
    t.add_argument("--max-completion-length", type=int, default=16, help="tokens")
    t.add_argument("--temperature", type=float, default=1.0)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--beta", type=float, default=0.04, help="KL coefficient (0: no reference model)")
    t.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    t.add_argument("--lora-rank", type=int, default=16)
    t.add_argument("--reward-workers", type=int, default=1, help="processes executing completions in their "
                                                                 "own cells (0: in the trainer's process)")
    t.add_argument("--save-steps", type=int, default=50, help="checkpoint every N steps (resume after a kill)")
    t.add_argument("--threads", type=int, default=1, help="torch CPU threads (results repeat at a fixed count)")
    t.add_argument("--vllm-server", default="", help="one-step: generate on this `trl vllm-serve` server, "
                                                     "e.g. http://gpu-box:8000 (needs vllm installed)")
    t.add_argument("--seed", type=int, default=0)
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

    _add_plugin_commands(sub)

    s = sub.add_parser("bag", help="rosbag2 (MCAP) bags written by the recorder node")
    bsub = s.add_subparsers(dest="bag_command", required=True)
    b = bsub.add_parser("score", help="score a recorded evaluation again: its summary from its episode records, "
                                      "and every recorded answer executed again from its scene")
    b.add_argument("bag", type=Path)
    b.add_argument("--reward-workers", type=int, default=0, help="processes executing answers (0: this one)")
    b.set_defaults(func=cmd_bag_score)
    b = bsub.add_parser("export", help="a recorded evaluation as a dataset, failures kept and labelled: parquet, "
                                       "one row per episode with the frame the policy saw, its prompt, answer, "
                                       "action and outcome; or lerobot, a LeRobot v3.0 dataset of the episodes' "
                                       "frames, joint states and outcomes")
    b.add_argument("bag", type=Path)
    b.add_argument("--format", choices=("parquet", "lerobot"), default="parquet")
    b.add_argument("--out", type=Path, required=True,
                   help="the file (parquet, e.g. episodes.parquet) or new directory (lerobot) to write")
    b.set_defaults(func=cmd_bag_export)
    b = bsub.add_parser("replay", help="the recorded frames and instructions answered by another policy, open loop, "
                                       "compared with the recorded answers")
    b.add_argument("bag", type=Path)
    b.add_argument("--policy", required=True, metavar="[LABEL=]KIND[:MODEL]", help="expert, chance or vlm:MODEL")
    b.add_argument("--seed", type=int, default=0, help="the policy's seed")
    b.add_argument("--out", type=Path, help="one JSON line per replayed episode (recorded and new answers)")
    b.set_defaults(func=cmd_bag_replay)
    b = bsub.add_parser("info", help="topics, types and message counts of a bag")
    b.add_argument("bag", type=Path)
    b.set_defaults(func=cmd_bag_info)
    b = bsub.add_parser("repair", help="after a kill: recover every message up to the last flushed chunk "
                                       "and rewrite metadata.yaml")
    b.add_argument("bag", type=Path)
    b.set_defaults(func=cmd_bag_repair)

    s = sub.add_parser("eval", help="policies on the identical scenes of every task: one record per episode "
                                    "(resumable), then the report")
    s.add_argument("--policy", action="append", required=True, metavar="[LABEL=]KIND[:MODEL]",
                   help="repeatable: expert, chance or vlm:MODEL (a model directory or recipe), optionally "
                        "LABEL= first, e.g. sft_fd=vlm:runs/sft_fd/model")
    s.add_argument("--tasks", default="all", help="comma-separated task names, or 'all'; NAME:N runs N episodes of "
                                                  "that task instead of --episodes")
    s.add_argument("--episodes", type=int, default=20, help="episodes per task and policy")
    s.add_argument("--seed", type=int, default=0, help="first scene seed (seeds SEED, SEED+1, ...)")
    s.add_argument("--splits", default="train,heldout", help="train and/or heldout, comma-separated")
    s.add_argument("--base", help="the label the transfer matrix compares every other row with, scene by "
                                  "scene (default: the first policy)")
    s.add_argument("--via", choices=("inprocess", "ros"), default="inprocess",
                   help="ros: every episode over the ROS 2 graph (cell, VLM, executor and evaluation nodes, as "
                        "`physgen bringup evaluation`; needs rclpy); the same records for a deterministic policy")
    s.add_argument("--workers", type=int, default=1,
                   help="processes (inprocess) or evaluation graphs (ros, each in its own ROS domain, serving every "
                        "policy and split) at once, each on an equal share of the scenes (2 uses both cores of a "
                        "two-core machine)")
    s.add_argument("--shard", metavar="I/N", help="run only shard I (0-based) of N: the scenes at positions I, "
                   "I+N, ... (whole scenes, every policy); each shard in its own --out, joined by physgen eval merge")
    s.add_argument("--out", type=Path, required=True,
                   help="run directory: episodes.jsonl (started again, the run resumes there), the report and "
                        "the transfer matrix (matrix.csv, matrix.json)")
    _matrix_args(s)
    _cell_arg(s)
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("eval-merge", prog="physgen eval merge", help="physgen eval merge: join the shard directories "
                       "of one `physgen eval --shard I/N` run into one run (the records, report and matrix of the "
                       "unsharded run)")
    s.add_argument("shards", type=Path, nargs="+", help="every shard's --out directory, 0/N .. N-1/N")
    s.add_argument("--out", type=Path, required=True, help="the merged run's directory (new)")
    s.set_defaults(func=cmd_eval_merge)

    s = sub.add_parser("efficiency", help="sample efficiency: SFT steps on a task to reach a success criterion, "
                                          "from each start model (the base first)")
    s.add_argument("--task", required=True)
    s.add_argument("--model", action="append", required=True, help="a start model; repeat (the base first)")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--criterion", type=float, default=0.8, help="success rate to reach")
    s.add_argument("--max-steps", type=int, default=300)
    s.add_argument("--eval-every", type=int, default=25)
    s.add_argument("--episodes", type=int, default=50, help="greedy episodes per evaluation")
    s.add_argument("--examples", type=int, default=1024, help="SFT training scenes")
    s.add_argument("--lora", action="store_true", help="LoRA instead of full fine-tuning")
    s.add_argument("--lr", type=float, default=3e-4)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_efficiency)

    s = sub.add_parser("study", help="the whole protocol from one YAML file: pre-train, SFT and GRPO on each source "
                                     "task, evaluate every condition on every task, probe, report; done stages are "
                                     "skipped")
    s.add_argument("--config", type=Path, default=None, help="a study YAML (default: the installed config/study.yaml)")
    s.add_argument("--eval-shard", metavar="I/N", help="once training is done: only evaluation shard I of N (whole "
                   "scenes), into OUT/eval/shards/I-of-N (one per machine or SLURM array task); the study run "
                   "without it afterwards takes their episodes in and goes on")
    s.set_defaults(func=cmd_study)

    s = sub.add_parser("report", help="the shareable report of an eval run: results.json, matrix.csv, figures, "
                                      "annotated example frames and one self-contained HTML page")
    s.add_argument("run_dir", type=Path, help="a `physgen eval --out` directory")
    s.add_argument("--base", help="the row the others are compared with (default: the first policy)")
    s.add_argument("--train", type=Path, action="append", default=[], help="a training run directory (SFT or "
                                                                          "GRPO) whose curve to plot; repeatable")
    s.add_argument("--efficiency", type=Path, help="an efficiency.json (physgen efficiency)")
    s.add_argument("--probe", type=Path, action="append", default=[], help="a physgen probe --out file; repeatable")
    _matrix_args(s)
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("probe", help="decodability: linear probes on a model's activations for the scenes' "
                                     "physical quantities, with a shuffled-label control")
    s.add_argument("--model", required=True, help="a model directory or recipe name")
    s.add_argument("--task", required=True, help="the task whose scenes are shown (e.g. stability, shift)")
    s.add_argument("--scenes", type=int, default=200, help="scenes: train-split seeds FIRST_SEED + [0, N)")
    s.add_argument("--first-seed", type=int, default=0)
    s.add_argument("--layer", type=int, default=-1, help="hidden-state index (-1: last layer, 0: embeddings)")
    s.add_argument("--folds", type=int, default=5)
    s.add_argument("--seed", type=int, default=0, help="folds and the shuffled control")
    s.add_argument("--out", type=Path, help="write the scores as JSON here")
    s.set_defaults(func=cmd_probe)

    s = sub.add_parser("run", help="the main job: a short study (config/study_quick.yaml: a tiny model built here, "
                                   "pre-trained, SFT and GRPO on shift; base, SFT, GRPO, expert and chance on every "
                                   "task; the report); prints the transfer matrix")
    s.add_argument("--config", type=Path, default=None,
                   help="a study YAML (default: the installed config/study_quick.yaml; config/study.yaml is the "
                        "full protocol)")
    s.add_argument("--model", help="a model directory or recipe instead of the config's model")
    s.add_argument("--out", type=Path, help="instead of the config's out directory")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("suite", help="expert and chance (or a VLM) over the whole task suite in-process, with the "
                                     "simulation-vs-analytic ground-truth check; no training")
    s.add_argument("--policy", action="append", choices=POLICIES,
                   help="repeatable; default: expert and chance, and vlm when --model is given")
    s.add_argument("--tasks", default="all", help="comma-separated task names, or 'all'")
    s.add_argument("--episodes", type=int, default=20, help="episodes per task, split and policy")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--splits", default="train,heldout")
    s.add_argument("--ground-truth", type=int, default=200, metavar="N",
                   help="towers for the simulation vs analytic-rule check (0 to skip)")
    s.add_argument("--out", type=Path, help="run directory (default runs/run-<time>)")
    _model_arg(s)
    _cell_arg(s)
    s.set_defaults(func=cmd_suite)
    return p


def _cell_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cell-config", type=Path, help="YAML file of CellConfig fields (see config/cell.yaml)")


def _model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="for --policy vlm: a model directory or a recipe name")


def _cell_config(args):
    from physgen.cell.config import CellConfig

    data = load_yaml(args.cell_config) if args.cell_config else {}
    return build(CellConfig, data.get("cell", data), "cell")


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise ConfigError(name, value, "a positive integer")


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="ep", disable=None, file=sys.stderr, leave=False)


def _task_list(spec: str) -> list[str]:
    from physgen.evaluation.plan import task_entries

    return task_entries(spec, counts=False)


def _task_entries(spec: str) -> list[str]:
    """``all``, or task names each optionally with its own episode count (``fall_direction:30``)."""
    from physgen.evaluation.plan import task_entries

    return task_entries(spec)


def cmd_tasks(args) -> int:
    from physgen.tasks import load_task, task_names

    for name in task_names():
        t = load_task(name)
        kind = "arm" if t.embodied else "look"
        print(f"{name:<16} [{kind}] {t.summary}; answer: {t.answer_format.describe()}")
    return 0


def cmd_render(args) -> int:
    from PIL import Image

    from physgen.cell.cell import RobotCell
    from physgen.evaluation.episode import begin
    from physgen.tasks import load_task

    task = load_task(_task_list(args.task)[0])
    with RobotCell(_cell_config(args)) as cell:
        inst, image = begin(cell, task, args.seed, args.split)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(args.out)
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]}) for {task.name} seed {args.seed} {args.split}")
    if args.prompt:
        print(inst.prompt)
    return 0


def cmd_rollout(args) -> int:
    from physgen.evaluation.report import format_rate, summarize
    from physgen.evaluation.run import evaluate_policies
    from physgen.tasks.oracle import Oracles

    _positive("episodes", args.episodes)
    task = _task_list(args.task)[0]
    oracles = Oracles()
    policy = make_policy(args.policy, args.seed, args.model, oracles)
    bar = _progress(args.episodes, f"{args.policy} on {task}")
    out = None
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        out = args.out.open("w")

    def on_episode(rec: dict) -> None:
        bar.update(1)
        if out:
            out.write(json.dumps(rec) + "\n")
            out.flush()

    try:
        records, _ = evaluate_policies([policy], [task], args.episodes, args.seed, args.split, oracles,
                              _cell_config(args), on_episode)
    finally:
        bar.close()
        oracles.close()
        if out:
            out.close()
    row = summarize(records)[0]
    print(f"{args.policy} on {task} ({args.split}, seeds {args.seed}..{args.seed + args.episodes - 1}): "
          f"success {row.successes}/{row.n} = {format_rate(row).strip()} (95% Wilson), "
          f"mean reward {row.mean_reward:.3f}, parse failures {row.parse_failures}")
    return 0


def cmd_model_build(args) -> int:
    from physgen.models.recipes import build_model, load_recipe, resolve_model

    recipe = load_recipe(args.recipe)
    t0 = time.perf_counter()
    path = build_model(recipe, args.out, args.seed) if args.out else resolve_model(recipe, seed=args.seed)
    print(f"built {recipe.name} ({recipe.architecture}) in {time.perf_counter() - t0:.1f} s: {path}")
    return 0


def cmd_model_list(args) -> int:
    from physgen.models.recipes import load_recipe, recipe_names

    for name in recipe_names():
        r = load_recipe(name)
        print(f"{name:<28} [{r.source}] {r.architecture}: {r.description}")
    return 0


def cmd_train_sft(args) -> int:
    from physgen.training.sft import train_sft
    from physgen.training.sft_config import SFTRunConfig

    lr = args.lr if args.lr is not None else (3e-4 if args.full else 2e-4)
    cfg = SFTRunConfig(task=args.task, model=args.model, out=args.out, steps=args.steps, seed=args.seed,
                       examples=args.examples, lora=not args.full, lora_rank=args.lora_rank, learning_rate=lr,
                       batch_size=args.batch_size, save_steps=args.save_steps, rehearsal=args.rehearsal)
    final = train_sft(cfg)
    print(f"model: {final}\nlog: {args.out / 'log.jsonl'}")
    return 0


def cmd_train_grpo(args) -> int:
    from physgen.training.grpo import train_grpo
    from physgen.training.grpo_config import GRPORunConfig

    cfg = GRPORunConfig(
        task=args.task, model=args.model, out=args.out, steps=args.steps, seed=args.seed, examples=args.examples,
        mode=args.mode, attempts=args.attempts, num_generations=args.num_generations,
        prompts_per_step=args.prompts_per_step, max_completion_length=args.max_completion_length,
        temperature=args.temperature, learning_rate=args.lr, beta=args.beta, lora=not args.full,
        lora_rank=args.lora_rank, reward_workers=args.reward_workers, save_steps=args.save_steps,
        threads=args.threads, vllm_server=args.vllm_server, rehearsal=args.rehearsal)
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


def cmd_bag_info(args) -> int:
    from physgen.recording.bag import bag_info

    print(json.dumps(bag_info(args.bag), indent=2, default=str))
    return 0


def cmd_bag_score(args) -> int:
    from physgen.evaluation.report import table
    from physgen.recording.score import score_bag

    result = score_bag(args.bag, args.reward_workers)
    print(table(result["rows"]))
    live = {None: "no summary in the bag", True: "reproduced", False: "NOT reproduced"}[result["summary_reproduced"]]
    print(f"episodes {result['episodes']} ({result['errors']} that could not run to their end); executed again "
          f"{result['rescored']}: {result['agree']} with the recorded reward and success; live summary: {live}")
    for d in result["disagree"]:
        print(f"  differs: {d}")
    return 0 if not result["disagree"] and result["summary_reproduced"] is not False else 1


def cmd_bag_export(args) -> int:
    from physgen.recording.export import export

    print(json.dumps(export(args.bag, args.out, args.format), indent=2))
    return 0


def cmd_bag_replay(args) -> int:
    from physgen.evaluation.run import PolicySpec
    from physgen.recording.replay import replay
    from physgen.tasks.oracle import Oracles

    spec = PolicySpec.parse(args.policy)
    oracles = Oracles()
    policy = spec.make(args.seed, oracles)
    try:
        result = replay(args.bag, policy, args.out)
    finally:
        policy.close()
        oracles.close()
    print(json.dumps(result, indent=2))
    return 0


def cmd_bag_repair(args) -> int:
    from physgen.recording.bag import repair

    result = repair(args.bag)
    print(json.dumps(result, indent=2, default=str) if result is not None else f"repaired {args.bag}")
    return 0


def cmd_eval(args) -> int:
    from physgen.evaluation.matrix import split_label
    from physgen.evaluation.run import PolicySpec
    from physgen.evaluation.shards import Shard, write_manifest
    from physgen.evaluation.workers import evaluate_parallel

    _positive("episodes", args.episodes)
    _positive("workers", args.workers)
    _check_matrix_args(args)
    specs = [PolicySpec.parse(p) for p in args.policy]
    labels = [s.label for s in specs]
    rows = list(dict.fromkeys(split_label(label)[0] for label in labels))  # ROW.seedK labels pool into ROW
    base = split_label(args.base or labels[0])[0]
    one_of("base", base, tuple(rows))
    if args.via == "ros" and args.cell_config is not None:
        raise ConfigError("cell-config", str(args.cell_config), "no cell config with --via ros (the cell "
                          "node takes its settings from config/evaluation.yaml)")
    shard = Shard.parse(args.shard) if args.shard else Shard()
    cell_config = _cell_config(args)
    run = {"policies": [s.text for s in specs], "tasks": _task_entries(args.tasks), "episodes": args.episodes,
           "seed": args.seed, "splits": _splits(args.splits), "via": args.via, "cell_config": to_dict(cell_config),
           "base": base, "alpha": args.alpha, "format_threshold": args.format_threshold}
    writable_dir("out", args.out)
    write_manifest(args.out, run, shard)
    t0 = time.perf_counter()
    records = evaluate_parallel(specs, [(split, run["tasks"]) for split in run["splits"]], args.episodes, args.seed,
                                args.out, args.workers, None if args.via == "ros" else cell_config, args.via,
                                shard, progress=True)
    if shard.count > 1:
        print(f"shard {shard}: {len(records)} episodes in {args.out / 'episodes.jsonl'}; once every shard is "
              "done: physgen eval merge --out DIR SHARD_DIR...")
        return 0
    return _eval_outputs(args.out, records, run, time.perf_counter() - t0)


def cmd_eval_merge(args) -> int:
    from physgen.evaluation.shards import merge

    writable_dir("out", args.out)
    t0 = time.perf_counter()
    run, records = merge(args.shards, args.out)
    print(f"merged {len(args.shards)} shards: {len(records)} episodes", file=sys.stderr)
    return _eval_outputs(args.out, records, run, time.perf_counter() - t0)


def _eval_outputs(out: Path, records: list[dict], run: dict, wall_s: float) -> int:
    """An evaluation run's report and transfer matrix from its records (``run``: its manifest's)."""
    from physgen.evaluation.matrix import split_label, transfer_matrix
    from physgen.evaluation.report import write_report
    from physgen.evaluation.run import PolicySpec

    rows = list(dict.fromkeys(split_label(PolicySpec.parse(p).label)[0] for p in run["policies"]))
    meta = {"command": "physgen " + " ".join(shlex.quote(a) for a in sys.argv[1:]), **run,
            "physics": records[0]["physics"] if records else {}, "wall_time_s": round(wall_s, 1)}
    write_report(out, records, meta, episodes=False)  # episodes.jsonl is the run's own log
    matrix = transfer_matrix(records, base=run["base"], rows=rows, alpha=run["alpha"],
                             format_threshold=run["format_threshold"])
    matrix.write_csv(out / "matrix.csv")
    (out / "matrix.json").write_text(json.dumps(matrix.to_dict(), indent=2))
    print(matrix.table())
    print(f"episodes: {out / 'episodes.jsonl'}\nreport: {out / 'report.md'}\nmatrix: {out / 'matrix.csv'}")
    return 0


def _splits(text: str) -> list[str]:
    splits = [s.strip() for s in text.split(",") if s.strip()]
    for s in splits:
        if s not in SPLITS:
            raise ConfigError("splits", s, " and/or ".join(SPLITS))
    return splits


def cmd_efficiency(args) -> int:
    from physgen.experiments.efficiency import EfficiencyConfig, measure, table

    cfg = EfficiencyConfig(task=args.task, models=tuple(args.model), out=args.out, criterion=args.criterion,
                           max_steps=args.max_steps, eval_every=args.eval_every, episodes=args.episodes,
                           examples=args.examples, lora=args.lora, learning_rate=args.lr, seed=args.seed)
    print(table(cfg, measure(cfg)))
    print(f"curves: {args.out / 'efficiency.json'}")
    return 0


def cmd_study(args) -> int:
    from physgen.experiments.study import StudyConfig, run_study, summary
    from physgen.resources import data_dir

    cfg = StudyConfig.load(args.config or data_dir("config") / "study.yaml")
    if args.eval_shard:
        from physgen.evaluation.shards import Shard
        from physgen.experiments.study import evaluate_shard

        shard = Shard.parse(args.eval_shard)
        print(f"evaluation shard {shard}: {evaluate_shard(cfg, shard)}; once every shard is done, run the study "
              "again without --eval-shard")
        return 0
    results, matrix = run_study(cfg)
    print(matrix.table())
    print(summary(results))
    print(f"report: {cfg.out / 'eval' / 'report.html'}")
    return 0


def cmd_run(args) -> int:
    import dataclasses

    from physgen.experiments.study import StudyConfig, run_study, summary
    from physgen.resources import data_dir

    path = args.config or data_dir("config") / "study_quick.yaml"
    cfg = StudyConfig.load(path)
    cfg = dataclasses.replace(cfg, **{k: v for k, v in (("model", args.model), ("out", args.out)) if v})
    if cfg.eval.via == "ros":
        for name, value in local_graph().items():
            print(f"{name}={value} (not set: this run's ROS 2 graph stays on this machine)", file=sys.stderr)
    print(f"study: {path} -> {cfg.out}", file=sys.stderr)
    t0 = time.perf_counter()
    results, matrix = run_study(cfg)
    print(matrix.table())
    print(summary(results))
    bags = f"; bags: {cfg.out / 'bags'}" if cfg.eval.record else ""
    print(f"\nreport: {cfg.out / 'eval' / 'report.html'} (results.json, matrix.csv, figures/, frames/); "
          f"episodes: {cfg.out / 'eval' / 'episodes.jsonl'}{bags}; {(time.perf_counter() - t0) / 60:.1f} min")
    return 0


def local_graph() -> dict[str, str]:
    """Keep a ROS 2 graph started here on this machine and to itself, unless the environment already
    says otherwise: ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and a ``ROS_DOMAIN_ID`` of its own
    (from the process id, 1..100). Returns what it set."""
    import os

    wanted = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_DOMAIN_ID": str(1 + os.getpid() % 100)}
    chosen = {k: v for k, v in wanted.items() if not os.environ.get(k)}
    os.environ.update(chosen)
    return chosen


def _matrix_args(s) -> None:
    s.add_argument("--format-threshold", type=float, default=0.2, help="a cell with more parse failures than this "
                   "is a format result: flagged, no verdict (default 0.2)")
    s.add_argument("--alpha", type=float, default=0.05, help="family-wise level of the verdicts (Holm; default 0.05)")


def _check_matrix_args(args) -> None:
    from physgen.evaluation.matrix import check_settings

    check_settings(args.alpha, args.format_threshold)


def cmd_report(args) -> int:
    from physgen.evaluation.results import build

    _check_matrix_args(args)
    _, matrix = build(args.run_dir, args.base, args.train, args.efficiency, args.probe, alpha=args.alpha,
                      format_threshold=args.format_threshold)
    print(matrix.table())
    print(f"report: {args.run_dir / 'report.html'} (results.json, matrix.csv, figures/, frames/)")
    return 0


def cmd_probe(args) -> int:
    from physgen.experiments.probe import ProbeConfig, activations, probe_scores, table

    cfg = ProbeConfig(model=args.model, task=args.task, scenes=args.scenes, first_seed=args.first_seed,
                      layer=args.layer, folds=args.folds, seed=args.seed)
    bar = _progress(cfg.scenes, "scenes")
    try:
        features, facts = activations(cfg, bar.update)
    finally:
        bar.close()
    rows = probe_scores(features, facts, cfg)
    print(table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"config": to_dict(cfg), "features": list(features.shape), "scores": rows},
                                       indent=2))
        print(f"scores: {args.out}")
    return 0


def cmd_suite(args) -> int:
    from physgen.evaluation.ground_truth import check_agreement
    from physgen.evaluation.report import summarize, table, write_report
    from physgen.evaluation.run import evaluate_policies
    from physgen.tasks.oracle import Oracles

    _positive("episodes", args.episodes)
    tasks = _task_list(args.tasks)
    splits = _splits(args.splits)
    policies_named = args.policy or ["expert", "chance", *(["vlm"] if args.model else [])]
    cell_config = _cell_config(args)
    out = args.out or Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    oracles = Oracles(cell_config.physics)
    policies = [make_policy(n, args.seed, args.model, oracles) for n in policies_named]
    total = len(tasks) * len(splits) * args.episodes * len(policies)
    records, physics = [], {}
    t0 = time.perf_counter()
    bar = _progress(total, "episodes")
    try:
        for split in splits:
            recs, physics = evaluate_policies(policies, tasks, args.episodes, args.seed, split, oracles, cell_config,
                                     lambda _r: bar.update(1))
            records += recs
    finally:
        bar.close()
        oracles.close()
    meta = {
        "command": "physgen " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "physgen suite",
        "tasks": tasks, "splits": splits, "policies": [p.describe() for p in policies], "seed": args.seed,
        "episodes": args.episodes, "physics": physics, "cell_config": to_dict(cell_config),
        "wall_time_s": round(time.perf_counter() - t0, 1),
    }
    if args.ground_truth > 0:
        gbar = _progress(args.ground_truth, "ground truth")
        try:
            meta["ground_truth"] = check_agreement(args.ground_truth, args.seed, physics=cell_config.physics,
                                                   progress=gbar.update).to_dict()
        finally:
            gbar.close()
    write_report(out, records, meta)
    print(table(summarize(records)))
    gt = meta.get("ground_truth")
    if gt:
        print(f"\nground truth: simulation agrees with the centre-of-mass rule on "
              f"{gt['agreement_non_marginal']:.1%} of {gt['towers'] - gt['marginal']} non-marginal towers")
    print(f"\nreport: {out / 'report.md'} (also report.json, summary.csv, episodes.jsonl)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
