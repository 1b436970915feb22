"""`physgen eval`, `physgen eval merge` and `physgen report`: the transfer matrix and its report."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from physgen.cli.common import (
    cell_arg,
    cell_config_of,
    positive,
    split_list,
    task_entries_arg,
)
from physgen.config import ConfigError, one_of, to_dict
from physgen.preflight import writable_dir


def add(sub) -> None:
    """Add this group's commands to the `physgen` subparsers ``sub``."""
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
    cell_arg(s)
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("eval-merge", prog="physgen eval merge", help="physgen eval merge: join the shard directories "
                       "of one `physgen eval --shard I/N` run into one run (the records, report and matrix of the "
                       "unsharded run)")
    s.add_argument("shards", type=Path, nargs="+", help="every shard's --out directory, 0/N .. N-1/N")
    s.add_argument("--out", type=Path, required=True, help="the merged run's directory (new)")
    s.set_defaults(func=cmd_eval_merge)

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


def cmd_eval(args) -> int:
    from physgen.evaluation.matrix import split_label
    from physgen.evaluation.run import PolicySpec
    from physgen.evaluation.shards import Shard, write_manifest
    from physgen.evaluation.workers import evaluate_parallel

    positive("episodes", args.episodes)
    positive("workers", args.workers)
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
    cell_config = cell_config_of(args)
    run = {"policies": [s.text for s in specs], "tasks": task_entries_arg(args.tasks), "episodes": args.episodes,
           "seed": args.seed, "splits": split_list(args.splits), "via": args.via, "cell_config": to_dict(cell_config),
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
    from physgen.evaluation.run import PolicySpec
    from physgen.evaluation.summary import command_line, run_meta, write_report

    rows = list(dict.fromkeys(split_label(PolicySpec.parse(p).label)[0] for p in run["policies"]))
    meta = run_meta(command_line(), records, wall_s, **run)
    write_report(out, records, meta, episodes=False)  # episodes.jsonl is the run's own log
    matrix = transfer_matrix(records, base=run["base"], rows=rows, alpha=run["alpha"],
                             format_threshold=run["format_threshold"])
    matrix.write_csv(out / "matrix.csv")
    (out / "matrix.json").write_text(json.dumps(matrix.to_dict(), indent=2))
    print(matrix.table())
    print(f"episodes: {out / 'episodes.jsonl'}\nreport: {out / 'report.md'}\nmatrix: {out / 'matrix.csv'}")
    return 0


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
