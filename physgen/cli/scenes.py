"""Quick commands on the suite in this process: list tasks, render a scene, roll out one policy, run the suite."""

from __future__ import annotations

import json
import time
from pathlib import Path

from physgen.cli.common import (
    cell_arg,
    cell_config_of,
    model_arg,
    positive,
    progress,
    split_list,
    task_list,
)
from physgen.config import to_dict
from physgen.policy.factory import POLICIES, make_policy
from physgen.types import SPLITS


def add(sub) -> None:
    """Add this group's commands to the `physgen` subparsers ``sub``."""
    s = sub.add_parser("tasks", help="list the tasks, one line each")
    s.set_defaults(func=cmd_tasks)

    s = sub.add_parser("render", help="write the image a model sees for (task, seed) as PNG")
    s.add_argument("--task", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--split", choices=SPLITS, default="train")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--prompt", action="store_true", help="also print the prompt")
    cell_arg(s)
    s.set_defaults(func=cmd_render)

    s = sub.add_parser("rollout", help="run episodes of one policy on one task; print success with a 95%% CI")
    s.add_argument("--policy", choices=POLICIES, default="expert")
    s.add_argument("--task", required=True)
    s.add_argument("--episodes", type=int, default=20)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--split", choices=SPLITS, default="train")
    s.add_argument("--out", type=Path, help="write one JSON record per episode (JSONL) here")
    model_arg(s)
    cell_arg(s)
    s.set_defaults(func=cmd_rollout)

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
    model_arg(s)
    cell_arg(s)
    s.set_defaults(func=cmd_suite)


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

    task = load_task(task_list(args.task)[0])
    with RobotCell(cell_config_of(args)) as cell:
        inst, image = begin(cell, task, args.seed, args.split)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(args.out)
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]}) for {task.name} seed {args.seed} {args.split}")
    if args.prompt:
        print(inst.prompt)
    return 0


def cmd_rollout(args) -> int:
    from physgen.evaluation.run import evaluate_policies
    from physgen.evaluation.summary import format_rate, summarize
    from physgen.tasks.oracle import Oracles

    positive("episodes", args.episodes)
    task = task_list(args.task)[0]
    oracles = Oracles()
    policy = make_policy(args.policy, args.seed, args.model, oracles)
    bar = progress(args.episodes, f"{args.policy} on {task}")
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
                              cell_config_of(args), on_episode)
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


def cmd_suite(args) -> int:
    from physgen.evaluation.ground_truth import check_agreement
    from physgen.evaluation.run import evaluate_policies
    from physgen.evaluation.summary import command_line, run_meta, summarize, table, write_report
    from physgen.tasks.oracle import Oracles

    positive("episodes", args.episodes)
    tasks = task_list(args.tasks)
    splits = split_list(args.splits)
    policies_named = args.policy or ["expert", "chance", *(["vlm"] if args.model else [])]
    cell_config = cell_config_of(args)
    out = args.out or Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    oracles = Oracles(cell_config.physics)
    policies = [make_policy(n, args.seed, args.model, oracles) for n in policies_named]
    total = len(tasks) * len(splits) * args.episodes * len(policies)
    records: list[dict] = []
    t0 = time.perf_counter()
    bar = progress(total, "episodes")
    try:
        for split in splits:
            recs, _ = evaluate_policies(policies, tasks, args.episodes, args.seed, split, oracles, cell_config,
                                        lambda _r: bar.update(1))
            records += recs
    finally:
        bar.close()
        oracles.close()
    meta = run_meta(command_line(), records, time.perf_counter() - t0, tasks=tasks, splits=splits,
                    policies=[p.describe() for p in policies], seed=args.seed, episodes=args.episodes,
                    cell_config=to_dict(cell_config))
    if args.ground_truth > 0:
        gbar = progress(args.ground_truth, "ground truth")
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
