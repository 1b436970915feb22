"""`physgen bag`: recorded evaluations: info, score, export, replay, repair."""

from __future__ import annotations

import json
from pathlib import Path


def add(sub) -> None:
    """Add this group's commands to the `physgen` subparsers ``sub``."""
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


def cmd_bag_info(args) -> int:
    from physgen.recording.bag import bag_info

    print(json.dumps(bag_info(args.bag), indent=2, default=str))
    return 0


def cmd_bag_score(args) -> int:
    from physgen.evaluation.summary import table
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
