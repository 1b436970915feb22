"""Evaluation throughput: episodes per second of `physgen eval` in-process and over the ROS 2 graph.

For each task (and for all tasks together, the "mix"), the same episodes (policies x seeds, --seed on)
run through `physgen.evaluation.workers.evaluate_parallel`, the function behind `physgen eval`:

- inprocess x1 / x2: the in-process episode loop in this process / in two worker processes;
- ros x1 / x2: one / two evaluation graphs (`physgen bringup evaluation`: cell, VLM, executor and
  evaluation nodes over real DDS, each graph in a process and ROS domain of its own, serving every
  policy of the run);
- arm limit: the expert's episodes as `bench_cell.py` defines the arm-physics limit (the planned
  joint trajectories replayed with only motor commands and simulation steps, then settle and judge;
  no rendering, no IK), one process: what the physics alone costs.

Each run starts in a new empty directory with an empty oracle cache (PHYSGEN_CACHE), so nothing is
resumed and every configuration computes each scene's oracle once, as a first run does.
A rate is episodes / wall time of the whole call, start-up included (a graph's processes, the model
loads), as a user waits for it. Both sides of every ratio come from the same run; configurations run
in the order given, reversed on every other repetition (--reps). The records of every configuration
are checked to be the same (without latencies): the benchmark fails if they differ. Runs set
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a ROS_DOMAIN_ID of their own unless the environment has them.

    .venv/bin/python benchmarks/bench_eval.py [--episodes K] [--tasks a,b] [--policy SPEC ...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from physgen.evaluation.run import PolicySpec
from physgen.evaluation.workers import evaluate_parallel, local_graph
from physgen.tasks import task_names

CONFIGS = {"inprocess x1": ("inprocess", 1), "inprocess x2": ("inprocess", 2), "ros x1": ("ros", 1),
           "ros x2": ("ros", 2)}


def progress(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def comparable(records: list[dict]) -> list[str]:
    return [json.dumps({k: v for k, v in r.items() if k != "latency"}, sort_keys=True, default=str) for r in records]


def run_config(name: str, specs, tasks: list[str], episodes: int, seed: int, work: Path) -> tuple[float, list]:
    via, workers = CONFIGS[name]
    out = Path(tempfile.mkdtemp(prefix=name.replace(" ", "_") + "-", dir=work))
    os.environ["PHYSGEN_CACHE"] = str(out / "cache")  # empty: every oracle computed (once, shared), as a first run
    t0 = time.perf_counter()
    records = evaluate_parallel(specs, [("train", tasks)], episodes, seed, out, workers, None, via)
    return time.perf_counter() - t0, records


def arm_limit(task: str, episodes: int, seed: int) -> float:
    """Seconds for the expert's episodes of ``task`` at bench_cell's arm-physics limit (each recorded
    once untimed, then replayed from its scene: build, motor targets and steps, settle, judge)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_cell

    from physgen.cell.cell import RobotCell
    from physgen.policy.expert import ExpertPolicy
    from physgen.tasks import load_task
    from physgen.tasks.oracle import Oracles

    t = load_task(task)
    total = 0.0
    with RobotCell() as cell:
        oracles = Oracles(disk=False)
        expert = ExpertPolicy(oracles)
        for s in range(seed, seed + episodes):
            events, _ = bench_cell.recorded_motion(cell, t, s, "train", expert, oracles)
            inst = t.sample(s, "train")
            oracle = oracles.get(t, inst)
            plan = t.plan(inst, oracle.best)
            t0 = time.perf_counter()
            cell.load(inst.scene, visual=False)
            bench_cell.arm_limit_episode(cell, t, inst, plan, oracle, events)
            total += time.perf_counter() - t0
        oracles.close()
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=None, help="scenes per task (default 8; 2 with --quick)")
    ap.add_argument("--tasks", default="all", help="comma-separated tasks, or all (default)")
    ap.add_argument("--policy", action="append", help="policies as physgen eval takes them (default: expert, chance)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=1, help="repetitions (the order reversed on odd ones)")
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"a subset of {list(CONFIGS)}")
    ap.add_argument("--no-mix", action="store_true", help="only the per-task rows")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 scenes per task, two tasks")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    episodes = args.episodes or (2 if args.quick else 8)
    tasks = task_names() if args.tasks == "all" else [t.strip() for t in args.tasks.split(",")]
    if args.quick and args.tasks == "all":
        tasks = ["stability", "shift"]
    specs = [PolicySpec.parse(p) for p in (args.policy or ["expert", "chance"])]
    configs = [c.strip() for c in args.configs.split(",")]
    for c in configs:
        if c not in CONFIGS:
            ap.error(f"--configs {c!r}: expected some of {list(CONFIGS)}")
    for name, value in local_graph().items():
        progress(f"{name}={value} (the graphs stay on this machine)")

    rows = {t: [t] for t in tasks} | ({} if args.no_mix or len(tasks) < 2 else {"mix": tasks})
    results: dict = {"episodes_per_task": episodes, "policies": [s.text for s in specs], "cpus": os.cpu_count(),
                     "rows": {}}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_eval-") as work:
        for row, row_tasks in rows.items():
            walls: dict[str, list[float]] = {c: [] for c in configs}
            reference = None
            n = 0
            for rep in range(args.reps):
                for c in configs if rep % 2 == 0 else configs[::-1]:
                    progress(f"{row}: {c} (rep {rep + 1}/{args.reps}) ...")
                    wall, records = run_config(c, specs, row_tasks, episodes, args.seed, Path(work))
                    walls[c].append(wall)
                    n = len(records)
                    if reference is None:
                        reference = comparable(records)
                    elif comparable(records) != reference:
                        raise SystemExit(f"{row}: {c} gave other records than {configs[0]}: not the same episodes")
            limit = None
            if "expert" in [s.kind for s in specs] and row != "mix":
                progress(f"{row}: arm limit ...")
                limit = arm_limit(row, episodes, args.seed)
            rate = {c: n / statistics.median(w) for c, w in walls.items()}
            results["rows"][row] = {"episodes": n, "wall_s": walls, "eps_per_s": rate,
                                    "arm_limit_expert_eps_per_s": None if not limit else episodes / limit}
    results["wall_s"] = time.perf_counter() - t_start
    print(report(results, configs))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


def report(results: dict, configs: list[str]) -> str:
    lines = [f"physgen evaluation throughput: episodes/s (whole calls, start-up included), "
             f"{results['episodes_per_task']} scenes per task x policies {', '.join(results['policies'])}; "
             f"{results['cpus']} cpus",
             f"{'row':<16}{'eps':>5}" + "".join(f"{c:>14}" for c in configs)
             + f"{'arm limit':>11}{'ros/inproc x1':>15}{'ros/inproc x2':>15}"]
    for row, r in results["rows"].items():
        rate = r["eps_per_s"]
        ratio = {k: (rate[f"ros {k}"] / rate[f"inprocess {k}"]) if {f"ros {k}", f"inprocess {k}"} <= set(rate)
                 else None for k in ("x1", "x2")}
        limit = r["arm_limit_expert_eps_per_s"]
        lines.append(f"{row:<16}{r['episodes']:>5}" + "".join(f"{rate[c]:>14.2f}" for c in configs)
                     + (f"{limit:>11.2f}" if limit else f"{'n/a':>11}")
                     + "".join(f"{ratio[k]:>15.2f}" if ratio[k] else f"{'n/a':>15}" for k in ("x1", "x2")))
    lines.append("arm limit: expert episodes/s at bench_cell's arm-physics limit, one process (n/a: no expert "
                 "among the policies, or the mix row)")
    lines.append(f"total wall time {results['wall_s']:.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
