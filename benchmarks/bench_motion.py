"""The planner's trajectories against the safety limits, with expert episodes in-process.

Every trajectory the primitives plan goes through physgen.motion.safety.screen before it is sent. This
benchmark runs --episodes expert episodes per task (seeds --seed ...) twice, interleaved per
episode (clamp, reject; then reject, clamp): once in a cell whose executor clamps what breaks the
limits (the default), once in a cell whose executor refuses it. For every screened trajectory it
records the verdict and the violations, and from the measured start joints the fastest joint
velocity and acceleration of the trajectory as planned, as a fraction of the joint's limit
(physgen.motion.safety.limit_ratios).

Printed per mode: expert successes, trajectories, how many passed unchanged, were altered (clamp)
or refused (reject), the violations by kind, the planned peaks (median and max over trajectories),
simulated seconds of motion per episode (the sent trajectories' durations) and wall seconds per
episode; then reject/clamp wall time per episode (median of paired ratios). A planner that keeps
within the limits shows no altered or refused trajectory and the same successes in both modes.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_motion.py [--episodes 4] [--tasks all]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import statistics
import sys
import time

from physgen.cell.cell import RobotCell
from physgen.cell.config import CellConfig, SafetyConfig
from physgen.evaluation.episode import run_episode
from physgen.motion import planner
from physgen.motion.safety import limit_ratios
from physgen.policy.expert import ExpertPolicy
from physgen.tasks import load_task, task_names
from physgen.tasks.oracle import Oracles

MODES = ("clamp", "reject")


@dataclasses.dataclass
class Tally:
    episodes: int = 0
    ok: int = 0
    wall: list[float] = dataclasses.field(default_factory=list)
    verdicts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    kinds: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    peak_v: list[float] = dataclasses.field(default_factory=list)
    peak_a: list[float] = dataclasses.field(default_factory=list)
    motion_s: float = 0.0


def instrumented(tallies: dict[str, Tally], current: list[str]):
    """``planner.screen`` with every verdict tallied under the mode in ``current[0]``."""
    real = planner.screen

    def screen(traj, start, limits, *args, **kwargs):
        got = real(traj, start, limits, *args, **kwargs)
        t = tallies[current[0]]
        v, a = limit_ratios(traj, start, limits)
        t.peak_v.append(v)
        t.peak_a.append(a)
        t.verdicts["refused" if got.rejected else "altered" if got.changed else "unchanged"] += 1
        t.kinds.update(r.split(":")[0] for r in got.reasons)
        if not got.rejected:
            t.motion_s += got.trajectory.times[-1]
        return got
    return screen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes", type=int, default=4)
    ap.add_argument("--tasks", default="all")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    tasks = task_names() if args.tasks == "all" else args.tasks.split(",")
    tallies = {m: Tally() for m in MODES}
    current = [MODES[0]]
    planner.screen = instrumented(tallies, current)
    oracles = Oracles(CellConfig().physics, disk=False)  # each oracle computed, as the wall times assume
    cells = {m: RobotCell(CellConfig(safety=SafetyConfig(on_violation=m))) for m in MODES}
    policy = ExpertPolicy(oracles)
    pairs: list[float] = []
    for name in tasks:
        task = load_task(name)
        for i in range(args.episodes):
            seed = args.seed + i
            wall = {}
            for m in (MODES if i % 2 == 0 else MODES[::-1]):
                current[0] = m
                t0 = time.perf_counter()
                rec = run_episode(cells[m], task, seed, "train", policy, oracles)
                wall[m] = time.perf_counter() - t0
                t = tallies[m]
                t.episodes += 1
                t.ok += bool(rec.success)
                t.wall.append(wall[m])
            pairs.append(wall["reject"] / wall["clamp"])
            print(f"{name} seed {seed}: " + ", ".join(f"{m} {wall[m]:.1f} s" for m in MODES), file=sys.stderr)
    for c in cells.values():
        c.close()
    print(f"\n{len(tasks)} tasks x {args.episodes} expert episodes (seeds {args.seed}..), per mode\n")
    head = ("mode", "expert ok", "trajectories", "unchanged", "altered", "refused", "violations",
            "peak v/limit med/max", "peak a/limit med/max", "motion s/ep", "wall s/ep")
    print(" | ".join(head))
    for m, t in tallies.items():
        n = sum(t.verdicts.values())
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(t.kinds.items())) or "none"
        print(" | ".join((
            m, f"{t.ok}/{t.episodes}", str(n), str(t.verdicts["unchanged"]), str(t.verdicts["altered"]),
            str(t.verdicts["refused"]), kinds,
            f"{statistics.median(t.peak_v):.2f} / {max(t.peak_v):.2f}" if n else "-",
            f"{statistics.median(t.peak_a):.2f} / {max(t.peak_a):.2f}" if n else "-",
            f"{t.motion_s / max(t.episodes, 1):.2f}", f"{statistics.median(t.wall):.2f}")))
    print(f"\nreject/clamp wall per episode: {statistics.median(pairs):.2f} (median of {len(pairs)} paired ratios)")


if __name__ == "__main__":
    main()
