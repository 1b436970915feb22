"""`physgen run` (the main job), `physgen study`, `physgen efficiency` and `physgen probe`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from physgen.cli.common import (
    progress,
)
from physgen.config import to_dict


def add(sub) -> None:
    """Add this group's commands to the `physgen` subparsers ``sub``."""
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
        from physgen.evaluation.workers import local_graph

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


def cmd_probe(args) -> int:
    from physgen.experiments.probe import ProbeConfig, activations, probe_scores, table

    cfg = ProbeConfig(model=args.model, task=args.task, scenes=args.scenes, first_seed=args.first_seed,
                      layer=args.layer, folds=args.folds, seed=args.seed)
    bar = progress(cfg.scenes, "scenes")
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
