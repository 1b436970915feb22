"""GRPO reward throughput and step time: rewards/s of RewardPool with 1, 2 and 4 workers, the reward's
cost against the physics-only limit, and the time split of real train_grpo steps.

The rewards are scored as GRPO scores them (physgen.training.rewards.RewardPool.score on a list of
RewardJob): a batch is one GRPO group, --group completions (default 16, GRPORunConfig's
num_generations) of one prompt, i.e. one training scene (TRAIN_SEED_BASE + --seed + k, train split; a
new scene for every batch, as every GRPO step brings a new prompt, so each batch pays its scene builds
and oracle in the workers). The completions are a fixed mix per group, shuffled with a seeded RNG
(--seed, the task, k): a quarter the oracle's best answer ("correct"), a quarter unparseable (empty,
prose, ambiguous, out of range, wrong count, a fraction: each gets the codec's reason code and the
task's format penalty, no arm motion) and the rest other answers of the task's format ("wrong"; in an
embodied task the arm moves for every parseable answer); 30% of the parseable ones get an "Answer: "
prefix. RewardPool.score executes identical completions of a scene once (episodes are deterministic),
so a group's distinct completions are what the workers run: their number is printed, and every rate
counts all the group's completions. Tasks: --tasks (default fall_direction, no arm motion, and shift,
the arm picks and places the top block).

1. rewards/s - RewardPool(n) for n = 0 (in this process, no pool: the reference), 1, 2 and 4, all
   started first (start-up and one warm-up batch per task, n completions with arm motion, timed apart
   and not in the rates). Per task, --batches batches; each batch is scored by every pool and by the
   limit of part 2, interleaved (A B C D E, E D C B A, ...). rewards/s = group / median batch wall;
   "x 1 worker" = median over batches of wall(1 worker) / wall(n). Diagnostics per case, from the CPU
   times of this process and of each worker (Linux /proc): "cpu/wall" = cores our processes used on
   average; "work x" = total CPU of the scoring (all workers) over that of 1 worker (duplicated scene
   builds and oracles: every worker that gets completions of a scene builds it and computes its
   oracle); "imbal" = max / mean CPU per worker (the job split of RewardPool._assign: contiguous runs
   of equal scenes, split evenly by count, not by cost); "bound" = CPU of 1 worker / CPU of the busiest
   worker at n = the speedup if every worker had a core to itself and messaging were free; "model" = the
   same speed-up predicted without CPU-time noise: the in-process (n = 0) time of every completion,
   summed over the distinct jobs each worker got, plus the scene build and oracle once per worker; "others" =
   cores that OTHER processes used meanwhile (/proc/stat busy time minus ours, over wall). "arm/worker"
   lists how many distinct completions with arm motion each worker got, per batch. Then, per task,
   --batches batches of two groups of new scenes each (GRPO's --prompts-per-step 2) for 1, 2 and 4
   workers: rewards/s and "x 1 worker", paired per batch.
2. reward cost vs the physics-only limit - per completion, the pool's wall time with 1 worker (batch
   wall / group: messaging, scene build, oracle, arm, settle, judge) and in process (n = 0) against the
   physics-only limit of the same completions (bench_cell.py's approach): a physics-only cell
   (CellConfig(arm=False)) builds the scene once per group and saves it; per distinct completion (as
   the pool) it restores
   it, parses the text with the codec, teleports the block(s) the plan would move (bench_cell.teleports),
   releases, settles and judges exactly as episode.conclude does, with the oracle computed beforehand
   ("oracle" = its time per scene, measured apart in this process, shown per completion; "scene" = the
   time to build the scene in a cell with the arm and save it, as SceneScorer does once per scene in
   every worker that gets part of the group; "scene+oracle" = that fixed cost per worker and scene in
   executed completions' worth, which a split group pays once per worker). Ratios are
   medians of per-batch paired ratios. "agree" counts completions whose limit reward equals the pool's
   (they differ where the arm's execution differs from a teleport); every pool must give the same
   rewards ("pools agree").
3. GRPO step split - physgen.training.grpo.train_grpo (TRL GRPOTrainer, LoRA, GRPORunConfig defaults
   otherwise: 16 generations, one prompt per step, max_completion_length 16, torch threads 1) on the
   tiny-qwen2-vl recipe (built locally into a temporary PHYSGEN_MODEL_CACHE before any timing; nothing is
   downloaded), task --grpo-task, --grpo-steps steps, reward_workers 1 and 2, run after run in the order
   1 2, 2 1, ... (--grpo-rounds rounds) on one prompt dataset built once and copied into every run.
   Means of generation_s, reward_s, update_s and step_time from OUT/log.jsonl, the first step of each
   run left out (warm-up); 2/1 ratios are medians of ratios paired by (round, step): the same seed gives
   the same completions in both runs ("same completions" checks the logged samples), so both score the
   same jobs. The tiny model's random weights mostly write unparseable text, so few completions move
   the arm: the parse-failure rate is printed beside it. --grpo-mode multi-step times multi-step
   rollouts instead (up to --grpo-attempts answers each; "answers executed per step" counts them).

How: time.perf_counter; seeds are explicit (--seed); the 2-core goal for the pool is 2 workers >= 1.6x
1 worker. Machines are shared: look at "others" and the load averages printed at the end before
reading a ratio. Progress goes to stderr, the tables to stdout.

    .venv/bin/python benchmarks/bench_grpo.py [--quick] [--batches K] [--tasks a,b] [--json PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_cell import c_stdout_captured, median, paired_ratio, print_tables, progress, teleports

from physgen.cell.cell import RobotCell
from physgen.cell.config import CellConfig
from physgen.evaluation.episode import decide
from physgen.models.hub import offline
from physgen.tasks import load_task, task_names
from physgen.tasks.base import Judgement
from physgen.tasks.codec import AnswerFormat, parse, render
from physgen.tasks.oracle import CACHE_ENV, Oracles
from physgen.training.rewards import RewardJob, RewardPool
from physgen.training.sft_config import TRAIN_SEED_BASE

WORKERS = (0, 1, 2, 4)
LIMIT = "limit"
SPLIT = "train"
RECIPE = "tiny-qwen2-vl"
GRPO_WORKERS = (1, 2)
GOAL = 1.6  # 2 workers vs 1 on 2 cores
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclasses.dataclass(frozen=True)
class Budget:
    batches: int = 3  # timed GRPO groups per task (each a new scene), after the warm-up
    grpo_steps: int = 5  # optimizer steps per train_grpo run; the first is left out
    grpo_rounds: int = 2  # rounds of train_grpo runs (1 worker, 2 workers), order 1 2, 2 1, ...

    @classmethod
    def quick(cls) -> Budget:
        return cls(batches=1, grpo_steps=3, grpo_rounds=1)


# --- CPU accounting (Linux /proc; None elsewhere) ---------------------------------------------------
def pid_cpu_s(pid: int) -> float | None:
    """utime + stime of a process in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def system_busy_s() -> float | None:
    """CPU seconds all processes on the machine have used (all cores, from /proc/stat)."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK  # user..steal minus idle and iowait


def measured(fn, pids: list[int]) -> dict:
    """Run ``fn`` and return its output, wall time, the CPU time of this process (and of children it
    reaped meanwhile, e.g. a pool closed within ``fn``) and of each pid, and the cores other processes
    used meanwhile."""
    w0 = {p: pid_cpu_s(p) for p in pids}
    k0 = os.times()
    s0, c0, t0 = system_busy_s(), time.process_time(), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    own, s1, k1 = time.process_time() - c0, system_busy_s(), os.times()
    own += (k1.children_user + k1.children_system) - (k0.children_user + k0.children_system)  # reaped children
    w1 = {p: pid_cpu_s(p) for p in pids}
    workers = [None if w0[p] is None or w1[p] is None else w1[p] - w0[p] for p in pids]
    total = own + sum(w for w in workers if w is not None)
    others = None if s0 is None or s1 is None else max(0.0, (s1 - s0) - total) / wall
    return {"out": out, "wall": wall, "own_cpu": own, "worker_cpu": workers, "cpu": total, "others": others}


def _spin(ready, start, seconds: float, out) -> None:
    ready.put(1)
    start.wait()
    c0, t0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pass
    out.put(time.process_time() - c0)


def capacity(procs: int = 2, seconds: float = 1.0) -> float:
    """Cores this benchmark gets right now: CPU seconds of ``procs`` processes spinning together for
    ``seconds``, over ``seconds`` (2.0 on two free cores). With the kernel's autogroup scheduling CPU is
    shared per session first, so a busy process in another session takes its share whatever its nice."""
    import multiprocessing as mp

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    ready, out, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    ps = [ctx.Process(target=_spin, args=(ready, start, seconds, out), daemon=True) for _ in range(procs)]
    for p in ps:
        p.start()
    for _ in ps:
        ready.get()
    start.set()
    cpu = sum(out.get() for _ in ps)
    for p in ps:
        p.join()
    return cpu / seconds


def autogroup() -> bool:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


def load_avg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# --- the completions of one GRPO group ---------------------------------------------------------------
def wrong_answers(fmt: AnswerFormat, best, rng: random.Random) -> str:
    if fmt.kind == "choice":
        return rng.choice([c for c in fmt.choices if c != best])
    while True:
        a = tuple(rng.randint(fmt.low, fmt.high) for _ in range(fmt.count))
        if a != tuple(best):
            return render(a, fmt)


def unparseable(fmt: AnswerFormat, rng: random.Random) -> str:
    if fmt.kind == "choice":
        pool = ["", "I am not sure.", f"{fmt.choices[0]} or {fmt.choices[-1]}", "the tower of blocks", "3"]
    else:
        two = " ".join(["1"] * (fmt.count + 1))
        pool = ["", "move the block", f"{fmt.high + 7}", two, "2.5", "left"]
    return rng.choice(pool)


def group_texts(task, best, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, text) for a group of ``n``: n//4 correct, n//4 unparseable, the rest wrong; shuffled."""
    fmt = task.answer_format
    kinds = ["correct"] * (n // 4) + ["unparseable"] * (n // 4)
    kinds += ["wrong"] * (n - len(kinds))
    out = []
    for kind in kinds:
        if kind == "correct":
            text = render(best, fmt)
        elif kind == "wrong":
            text = wrong_answers(fmt, best, rng)
        else:
            text = unparseable(fmt, rng)
        if kind != "unparseable" and rng.random() < 0.3:
            text = f"Answer: {text}"
        assert parse(text, fmt).ok == (kind != "unparseable"), (kind, text)
        out.append((kind, text))
    rng.shuffle(out)
    return out


@dataclasses.dataclass
class Batch:
    task: object
    inst: object
    oracle: object
    oracle_s: float
    build_s: float  # building the scene in a cell with the arm and saving it, as SceneScorer does per scene
    kinds: list[str]
    jobs: list[RewardJob]
    moves: list[bool]  # the plan moves a block (the arm works)

    @property
    def distinct(self) -> list[int]:
        """Index of the first of each distinct completion: RewardPool.score executes each once."""
        first: dict[RewardJob, int] = {}
        for i, j in enumerate(self.jobs):
            first.setdefault(j, i)
        return list(first.values())


def make_batch(task, seed: int, group: int, oracles: Oracles, arm_cell: RobotCell, rng_seed: int) -> Batch:
    inst = task.sample(seed, SPLIT)
    t0 = time.perf_counter()
    oracle = oracles.get(task, inst)
    oracle_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    arm_cell.load(inst.scene)
    arm_cell.save()
    build_s = time.perf_counter() - t0
    texts = group_texts(task, oracle.best, group, random.Random(f"{rng_seed}-{task.name}-{seed}"))
    jobs = [RewardJob(task.name, seed, SPLIT, t) for _, t in texts]
    moves = [bool(decide(task, inst, t)[1].commands) for _, t in texts]
    return Batch(task, inst, oracle, oracle_s, build_s, [k for k, _ in texts], jobs, moves)


# --- the physics-only limit of a group ---------------------------------------------------------------
def limit_group(cell: RobotCell, b: Batch) -> list[float] | None:
    """Rewards of the group in a physics-only cell: the plan teleported, then episode.conclude's release,
    settle and judge; like the pool, each distinct completion once. None when the task's plans cannot
    be teleported (a push)."""
    task, inst, oracle = b.task, b.inst, b.oracle
    cell.load(inst.scene)
    snap = cell.save()
    done: dict[RewardJob, float] = {}
    for job in dict.fromkeys(b.jobs):
        cell.restore(snap)
        parsed, plan = decide(task, inst, job.text)
        try:
            moves = teleports(plan)
        except NotImplementedError:
            return None
        for name, pos in moves.items():
            cell.teleport(name, pos, inst.scene.block(name).yaw)
        cell.release()
        reference = {bl.name: bl.position for bl in inst.scene.blocks} | plan.targets
        settle = cell.settle(list(plan.structure) if plan.structure is not None else None, reference=reference)
        if not parsed.ok:
            judgement = Judgement(False, task.format_penalty, {})
        elif plan.invalid:
            judgement = Judgement(False, 0.0, {})
        else:
            judgement = task.judge(inst, parsed.answer, plan, settle, oracle)
        done[job] = float(judgement.reward)
    return [done[j] for j in b.jobs]


# --- 1 + 2. reward pools -----------------------------------------------------------------------------
def warm_jobs(task, seed: int, n: int, oracles: Oracles) -> list[RewardJob]:
    """n distinct completions (trailing spaces) of the oracle's answer (arm motion in embodied tasks): one
    per worker, as the pool executes identical completions once."""
    inst = task.sample(seed, SPLIT)
    text = render(oracles.get(task, inst).best, task.answer_format)
    return [RewardJob(task.name, seed, SPLIT, text + " " * i) for i in range(max(1, n))]


def bench_rewards(tasks: list[str], budget: Budget, group: int, seed: int) -> dict:
    oracles = Oracles()
    loaded = {name: load_task(name) for name in tasks}
    warm_seed = TRAIN_SEED_BASE + seed + budget.batches  # a scene no timed batch uses
    pools: dict[int, RewardPool] = {}
    res: dict = {"start_s": {}, "tasks": {}, "group": group, "load_before": load_avg()}
    try:
        for n in WORKERS:
            progress(f"rewards: starting RewardPool({n}) and warming it ...")
            t0 = time.perf_counter()
            pools[n] = RewardPool(n)
            for task in loaded.values():
                pools[n].score(warm_jobs(task, warm_seed, n, oracles))
            res["start_s"][n] = time.perf_counter() - t0
        cell, arm_cell = RobotCell(CellConfig(arm=False)), RobotCell(CellConfig())
        for name, task in loaded.items():
            before = capacity()
            res["tasks"][name] = bench_task_rewards(task, pools, cell, arm_cell, oracles, budget, group, seed)
            res["tasks"][name]["capacity"] = [before, capacity()]
        cell.close()
        arm_cell.close()
    finally:
        for pool in pools.values():
            pool.close()
        oracles.close()
    res["load_after"] = load_avg()
    return res


def bench_task_rewards(task, pools: dict[int, RewardPool], cell: RobotCell, arm_cell: RobotCell, oracles: Oracles,
                       budget: Budget, group: int, seed: int) -> dict:
    cases = [*WORKERS, LIMIT]
    runs: dict = {c: [] for c in cases}
    batches = []
    for k in range(budget.batches):
        progress(f"rewards: {task.name} batch {k + 1}/{budget.batches} ...")
        b = make_batch(task, TRAIN_SEED_BASE + seed + k, group, oracles, arm_cell, seed)
        batches.append(b)
        for c in cases if k % 2 == 0 else cases[::-1]:
            if c == LIMIT:
                runs[c].append(measured(lambda b=b: limit_group(cell, b), []))
            else:
                pool = pools[c]
                runs[c].append(measured(lambda p=pool, b=b: p.score(b.jobs), pool.pids() if c else []))
    out = summarize_task(task, batches, runs, group)
    out["two_prompts"] = bench_two_prompts(task, pools, arm_cell, oracles, budget, group, seed)
    return out


def bench_two_prompts(task, pools: dict[int, RewardPool], arm_cell: RobotCell, oracles: Oracles, budget: Budget,
                      group: int, seed: int) -> dict:
    """Batches of two groups of new scenes (GRPO with --prompts-per-step 2), for 1, 2 and 4 workers."""
    pooled = [n for n in WORKERS if n > 0]
    wall: dict[int, list[float]] = {n: [] for n in pooled}
    for k in range(budget.batches):
        progress(f"rewards: {task.name} two-prompt batch {k + 1}/{budget.batches} ...")
        pair = [make_batch(task, TRAIN_SEED_BASE + seed + 1000 + 2 * k + j, group, oracles, arm_cell, seed)
                for j in (0, 1)]
        jobs = pair[0].jobs + pair[1].jobs
        for n in pooled if k % 2 == 0 else pooled[::-1]:
            wall[n].append(measured(lambda p=pools[n], j=jobs: p.score(j), pools[n].pids())["wall"])
    return {n: {"rewards_per_s": 2 * group / median(wall[n]), "x_vs_1_worker": paired_ratio(wall[1], wall[n])}
            for n in pooled}


def worker_cpus(run: dict, n: int) -> list[float]:
    """CPU seconds per scorer: each worker's, or this process's for n = 0."""
    return [run["own_cpu"]] if n == 0 else [w or 0.0 for w in run["worker_cpu"]]


def model_speedup(b: Batch, inproc: dict, pooled: dict) -> float:
    """The speed-up over 1 worker that the job split alone allows: the times of the distinct completions
    in the in-process run (its first also built the scene and computed the oracle: that fixed cost
    F = build + oracle, measured apart, is moved out of it), summed per worker of ``pooled``, plus F for
    every worker that got jobs. Free cores and free messaging assumed."""
    fixed = b.build_s + b.oracle_s
    t = [inproc["out"][i].seconds for i in b.distinct]
    t[0] = max(0.0, t[0] - fixed)
    loads: dict[int, float] = {}
    for tj, i in zip(t, b.distinct):
        w = pooled["out"][i].worker
        loads[w] = loads.get(w, fixed) + tj
    return (sum(t) + fixed) / max(loads.values())


def summarize_task(task, batches: list[Batch], runs: dict, group: int) -> dict:
    wall = {c: [r["wall"] for r in rs] for c, rs in runs.items()}
    out: dict = {"batches": len(batches), "seeds": [b.inst.seed for b in batches],
                 "mix": {k: batches[0].kinds.count(k) for k in ("correct", "wrong", "unparseable")},
                 "arm_motions_per_group": [sum(b.moves) for b in batches],
                 "distinct_per_group": [len(b.distinct) for b in batches],
                 "arm_motions_distinct": [sum(b.moves[i] for i in b.distinct) for b in batches], "pools": {}}
    base_cpu = [sum(worker_cpus(r, 1)) for r in runs[1]]
    for n in WORKERS:
        rs = runs[n]
        cpus = [worker_cpus(r, n) for r in rs]
        others = [r["others"] for r in rs if r["others"] is not None]
        p = {"rewards_per_s": group / median(wall[n]), "wall_s": median(wall[n]),
             "x_vs_1_worker": paired_ratio(wall[1], wall[n]),
             "cpu_over_wall": sum(r["cpu"] for r in rs) / sum(wall[n]),
             "work_x": paired_ratio([sum(c) for c in cpus], base_cpu),
             "imbalance": median([max(c) / (sum(c) / len(c)) if sum(c) > 0 else 1.0 for c in cpus]),
             "bound": median([b1 / max(c) if max(c) > 0 else float("nan") for b1, c in zip(base_cpu, cpus)]),
             "model": median([model_speedup(b, r0, r) for b, r0, r in zip(batches, runs[0], rs)]),
             "others_cores": median(others) if others else None,
             "worker_s_per_executed": median([statistics.fmean(r["out"][i].seconds for i in b.distinct)
                                              for b, r in zip(batches, rs)])}
        if n >= 1:
            p["arm_per_worker"] = [[sum(b.moves[i] for i in b.distinct if r["out"][i].worker == w) for w in range(n)]
                                   for b, r in zip(batches, rs)]
            p["jobs_per_worker"] = [[sum(r["out"][i].worker == w for i in b.distinct) for w in range(n)]
                                    for b, r in zip(batches, rs)]
        out["pools"][n] = p
    rewards = {n: [[x.reward for x in r["out"]] for r in runs[n]] for n in WORKERS}
    out["pools_agree"] = all(rewards[n] == rewards[0] for n in WORKERS)
    lim = runs[LIMIT]
    if any(r["out"] is None for r in lim):
        out["limit"] = None
        return out
    agree = sum(abs(a - b) < 1e-9 for r, ref in zip(lim, rewards[1]) for a, b in zip(r["out"], ref))
    oracle_s = [b.oracle_s for b in batches]
    out["limit"] = {
        "pool_s": median(wall[1]) / group, "inproc_s": median(wall[0]) / group, "limit_s": median(wall[LIMIT]) / group,
        "oracle_s": median(oracle_s) / group, "scene_s": median([b.build_s for b in batches]),
        "scene_oracle_in_completions": median([(b.oracle_s + b.build_s) / w * len(b.distinct)
                                               for b, w in zip(batches, wall[0])]),
        "pool_over_limit": paired_ratio(wall[1], wall[LIMIT]),
        "inproc_over_limit": paired_ratio(wall[0], wall[LIMIT]),
        "oracle_share_inproc": median([o / w for o, w in zip(oracle_s, wall[0])]),
        "cpu_over_wall": sum(r["cpu"] for r in lim) / sum(wall[LIMIT]),
        "rewards_agree": agree, "completions": group * len(batches),
    }
    return out


# --- 3. train_grpo ---------------------------------------------------------------------------------
def bench_grpo(task: str, budget: Budget, seed: int, tmp: Path, mode: str = "one-step", attempts: int = 3) -> dict:
    import json

    from physgen.models.recipes import resolve_model
    from physgen.training import datasets as tds
    from physgen.training.grpo import train_grpo
    from physgen.training.grpo_config import GRPORunConfig

    os.environ["PHYSGEN_MODEL_CACHE"] = str(tmp / "model-cache")  # this process only; it exits soon after
    progress(f"grpo: building {RECIPE} into {tmp / 'model-cache'} ...")
    build_s = time.perf_counter()
    resolve_model(RECIPE)
    build_s = time.perf_counter() - build_s

    def config(workers: int, out: Path) -> GRPORunConfig:
        return GRPORunConfig(task=task, model=RECIPE, out=out, steps=budget.grpo_steps, seed=seed,
                             examples=budget.grpo_steps, reward_workers=workers, save_steps=10 * budget.grpo_steps,
                             mode=mode, attempts=attempts)

    progress(f"grpo: building the {task} prompt dataset ({budget.grpo_steps} scenes) ...")
    dataset = tmp / "grpo-dataset"
    tds.build([task], config(1, tmp).dataset_seeds, dataset, answers=False)
    before = capacity()
    order = [w for r in range(budget.grpo_rounds) for w in (GRPO_WORKERS if r % 2 == 0 else GRPO_WORKERS[::-1])]
    runs: list[dict] = []
    for i, workers in enumerate(order):
        out = tmp / f"grpo-{i}-w{workers}"
        shutil.copytree(dataset, out / "dataset")
        progress(f"grpo: run {i + 1}/{len(order)}: reward_workers {workers}, {budget.grpo_steps} steps ...")
        cfg = config(workers, out)
        m = measured(lambda c=cfg: train_grpo(c, progress=False), [])
        lines = [json.loads(ln) for ln in (out / "log.jsonl").read_text().splitlines()]
        steps = [ln for ln in lines if "generation_s" in ln]
        runs.append({"workers": workers, "round": i // len(GRPO_WORKERS), "wall_s": m["wall"], "others": m["others"],
                     "steps": steps})
    out = summarize_grpo(runs, task, build_s, budget)
    out["capacity"] = [before, capacity()]
    out["mode"] = mode if mode == "one-step" else f"{mode}, up to {attempts} attempts"
    return out


def summarize_grpo(runs: list[dict], task: str, build_s: float, budget: Budget) -> dict:
    keys = ("generation_s", "reward_s", "update_s", "step_time")
    out: dict = {"task": task, "build_s": build_s, "steps": budget.grpo_steps, "rounds": budget.grpo_rounds,
                 "order": [r["workers"] for r in runs], "workers": {}}
    timed_steps: dict = {}  # (workers, round, step) -> log line
    for r in runs:
        for s in r["steps"]:
            if s["step"] > 1:
                timed_steps[(r["workers"], r["round"], s["step"])] = s
    for w in GRPO_WORKERS:
        lines = [s for (ww, _, _), s in timed_steps.items() if ww == w]
        out["workers"][w] = {
            **{k: statistics.fmean(float(s[k]) for s in lines) for k in keys},
            "reward": statistics.fmean(float(s["reward"]) for s in lines),
            "parse_failure_rate": statistics.fmean(float(s["parse_failure_rate"]) for s in lines),
            "completions_ok": sum(s.get("reasons", {}).get("ok", 0) for s in lines),
            "answers": sum(sum(s.get("reasons", {}).values()) for s in lines),
            "steps_timed": len(lines),
            "train_grpo_wall_s": statistics.fmean(r["wall_s"] for r in runs if r["workers"] == w),
            "others_cores": median([r["others"] for r in runs if r["workers"] == w and r["others"] is not None]),
        }
    pairs = [(timed_steps[(1, rd, st)], timed_steps[(2, rd, st)]) for (w, rd, st) in timed_steps
             if w == 1 and (2, rd, st) in timed_steps]
    out["ratio_2_over_1"] = {k: median([float(b[k]) / float(a[k]) for a, b in pairs if float(a[k]) > 0]) for k in keys}
    out["pairs"] = len(pairs)
    out["per_step"] = [{"workers": r["workers"], "round": r["round"], "wall_s": r["wall_s"],
                        "steps": [{k: s.get(k) for k in ("step", *keys, "reasons")} for s in r["steps"]]} for r in runs]
    all_pairs = [(a, b) for ra in runs if ra["workers"] == 1 for rb in runs
                 if rb["workers"] == 2 and rb["round"] == ra["round"] for a, b in zip(ra["steps"], rb["steps"])]
    out["same_completions"] = bool(all_pairs) and all(a["samples"] == b["samples"] for a, b in all_pairs)
    return out


# --- report ----------------------------------------------------------------------------------------
def num(v: float | None, spec: str) -> str:
    return "n/a" if v is None or v != v else format(v, spec)


def report_rewards(r: dict, budget: Budget) -> list[str]:
    g = r["group"]
    first = next(iter(r["tasks"].values()))
    mix = first["mix"]
    lines = [f"1. Rewards per second, RewardPool(n).score on GRPO groups of {g} completions of one new scene  "
             f"(median of {budget.batches} interleaved batches per task;",
             f"   mix per group: {mix['correct']} correct, {mix['wrong']} wrong, {mix['unparseable']} unparseable; "
             "start-up + warm-up s: " + ", ".join(f"n={n} {s:.1f}" for n, s in r["start_s"].items()) + ")",
             "   x 1 worker = wall(1)/wall(n), paired per batch; bound = speedup if each worker had its own core (from "
             "measured worker CPU);",
             "   model = the same from the in-process per-completion times and the job split (no CPU noise); others = "
             "cores used by other processes",
             f"   {'task':<15}{'workers':>8}{'rewards/s':>10}{'x 1 worker':>11}{'cpu/wall':>9}{'work x':>8}"
             f"{'imbal':>7}{'bound':>7}{'model':>7}{'others':>8}   arm/worker per batch"]
    for name, t in r["tasks"].items():
        for n, p in t["pools"].items():
            label = "0 (in-process)" if n == 0 else str(n)
            arm = " ".join("+".join(map(str, a)) for a in p.get("arm_per_worker", [])) if n > 1 else ""
            lines.append(f"   {name if n == 0 else '':<15}{label:>8}{p['rewards_per_s']:>10.1f}"
                         f"{p['x_vs_1_worker']:>10.2f}x{p['cpu_over_wall']:>9.2f}{p['work_x']:>7.2f}x"
                         f"{num(p['imbalance'], '.2f') if n > 1 else '':>7}{num(p['bound'], '.2f') if n > 1 else '':>7}"
                         f"{num(p['model'], '.2f') if n > 1 else '':>7}"
                         f"{num(p['others_cores'], '.2f'):>8}   {arm}")
        two = t["two_prompts"]
        lines.append(f"   {'':<15}two groups per batch (--prompts-per-step 2): " + ", ".join(
            f"{n} worker{'s' if n > 1 else ''} {x['rewards_per_s']:.1f}/s ({x['x_vs_1_worker']:.2f}x)"
            for n, x in two.items()))
        lines.append(f"   {'':<15}distinct completions per group {t['distinct_per_group']} of {g}, with arm motion "
                     f"{t['arm_motions_distinct']}; every pool gives the "
                     f"same rewards: {'yes' if t['pools_agree'] else 'NO'}; cores available before/after: "
                     + "/".join(f"{c:.2f}" for c in t["capacity"]))
    return lines


def report_limit(r: dict, budget: Budget) -> list[str]:
    lines = ["2. Reward cost per completion vs the physics-only limit  (ms per completion, medians of "
             f"{budget.batches} batches; ratios paired per batch)",
             "   pool = RewardPool(1) batch wall / group; in-proc = RewardPool(0); limit = physics-only cell, the plan "
             "teleported, settle, judge (oracle given);",
             "   oracle = the scene's oracle (computed apart) / group; oracle % = its share of in-proc; scene = ms per "
             "SCENE to build it in a cell with the arm (+ save)",
             f"   {'task':<15}{'pool':>8}{'in-proc':>9}{'worker':>8}{'limit':>8}{'oracle':>8}{'pool/limit':>11}"
             f"{'in-proc/limit':>14}{'oracle %':>9}{'agree':>9}{'scene':>8}{'scene+oracle':>13}"]
    for name, t in r["tasks"].items():
        lm = t["limit"]
        if lm is None:
            lines.append(f"   {name:<15}limit: n/a (the task's plan pushes; no teleport equivalent)")
            continue
        ws = t["pools"][1]["worker_s_per_executed"]
        lines.append(f"   {name:<15}{1e3 * lm['pool_s']:>8.1f}{1e3 * lm['inproc_s']:>9.1f}{1e3 * ws:>8.1f}"
                     f"{1e3 * lm['limit_s']:>8.1f}{1e3 * lm['oracle_s']:>8.1f}{lm['pool_over_limit']:>10.1f}x"
                     f"{lm['inproc_over_limit']:>13.1f}x{100 * lm['oracle_share_inproc']:>8.0f}%"
                     f"{lm['rewards_agree']:>5}/{lm['completions']:<3}{1e3 * lm['scene_s']:>8.0f}"
                     f"{lm['scene_oracle_in_completions']:>7.1f} compl")
    lines.extend(["   worker = mean RewardResult.seconds of the executed (distinct) completions with 1 worker (in the "
                  "worker: scene build on its first, oracle, arm, settle, judge);",
                  "   pool, in-proc and limit execute each distinct completion once and count all; agree = limit "
                  "reward == pool reward;",
                 "   scene+oracle = what each worker given part of a group pays once per scene, in executed "
                 "completions' worth (in-proc)"])
    return lines


def report_grpo(g: dict) -> list[str]:
    lines = [f"3. GRPO step time split  (train_grpo {g['mode']}, {RECIPE}, task {g['task']}, 16 generations x 1 "
             f"prompt, {g['steps']} steps per run, first step left out; runs in the order {g['order']})",
             f"   {'reward_workers':<15}{'generation_s':>13}{'reward_s':>10}{'update_s':>10}{'step_time':>10}"
             f"{'reward':>8}{'parse fail':>11}{'ok compl':>9}{'steps':>6}{'run wall s':>11}{'others':>8}"]
    for w, x in g["workers"].items():
        lines.append(f"   {w:<15}{x['generation_s']:>13.3f}{x['reward_s']:>10.3f}{x['update_s']:>10.3f}"
                     f"{x['step_time']:>10.3f}{x['reward']:>8.2f}{100 * x['parse_failure_rate']:>10.0f}%"
                     f"{x['completions_ok']:>9}{x['steps_timed']:>6}{x['train_grpo_wall_s']:>11.1f}"
                     f"{num(x['others_cores'], '.2f'):>8}")
    q = g["ratio_2_over_1"]
    ratios = "   ".join(f"{k} {v:.2f}x" for k, v in q.items())
    lines.append(f"   2 workers / 1 (median of {g['pairs']} step pairs): {ratios};  same completions in both: "
                 f"{'yes' if g['same_completions'] else 'NO'}")
    lines.append("   answers executed per step: " + ", ".join(f"{w} workers {x['answers'] / x['steps_timed']:.1f}"
                                                          for w, x in g["workers"].items()))
    lines.append(f"   ok compl = parseable completions (the rest skip the arm); model build {g['build_s']:.1f} s; "
                 "cores available before/after: " + "/".join(f"{c:.2f}" for c in g["capacity"]))
    return lines


def summary(res: dict) -> list[str]:
    out = ["Summary"]
    if "rewards" in res:
        for name, t in res["rewards"]["tasks"].items():
            x = t["pools"][2]["x_vs_1_worker"]
            out.append(f"   {name}: 2 workers {x:.2f}x of 1 worker (goal >= {GOAL}x: "
                       f"{'met' if x >= GOAL else 'NOT met'}), bound {t['pools'][2]['bound']:.2f}x, job-split model "
                       f"{t['pools'][2]['model']:.2f}x, "
                       f"4 workers {t['pools'][4]['x_vs_1_worker']:.2f}x; two prompts per batch: 2 workers "
                       f"{t['two_prompts'][2]['x_vs_1_worker']:.2f}x")
        r = res["rewards"]
        out.append(f"   load average (1, 5, 15 min) before part 1 {r['load_before']}, after {r['load_after']}")
    group = ("on (CPU is shared per session first: a busy job of another session takes its share whatever its "
             "nice)") if autogroup() else "off"
    out.append(f"   load average at the end {load_avg()}; cpus {os.cpu_count()}; kernel autogroup scheduling {group}")
    out.append("   cores available = CPU seconds per second of 2 processes of this benchmark spinning together for 1 s "
               "(2.00 on two free cores)")
    return out


def environment() -> dict:
    import pybullet

    return {"python": platform.python_version(), "pybullet_api": pybullet.getAPIVersion(),
            "machine": platform.machine(), "system": platform.system(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "load_start": load_avg()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run (~1.5 min): 1 batch per task, 3 GRPO steps, 1 round")
    ap.add_argument("--batches", type=int, default=None, help="timed groups per task (default 3; 1 with --quick)")
    ap.add_argument("--group", type=int, default=16, help="completions per group (default 16, as GRPO)")
    ap.add_argument("--tasks", default="fall_direction,shift", help="tasks of parts 1-2, comma-separated")
    ap.add_argument("--grpo-task", default="shift", choices=task_names(), help="task of part 3 (default shift)")
    ap.add_argument("--grpo-steps", type=int, default=None, help="steps per train_grpo run (5; 3 with --quick)")
    ap.add_argument("--grpo-mode", default="one-step", choices=("one-step", "multi-step"), help="part 3's GRPO mode")
    ap.add_argument("--grpo-attempts", type=int, default=3, help="part 3, multi-step: answers per rollout at most")
    ap.add_argument("--grpo-rounds", type=int, default=None, help="rounds of (1, 2 worker) runs (2; 1 --quick)")
    ap.add_argument("--parts", default="1,3", help="parts to run: 1 (= parts 1 and 2) and/or 3 (default 1,3)")
    ap.add_argument("--seed", type=int, default=0, help="scene seeds, completion mix, GRPO seed (default 0)")
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = ap.parse_args(argv)
    budget = Budget.quick() if args.quick else Budget()
    budget = dataclasses.replace(budget, **{k: v for k, v in (("batches", args.batches),
                                                              ("grpo_steps", args.grpo_steps),
                                                              ("grpo_rounds", args.grpo_rounds)) if v is not None})
    for flag, v, low in (("batches", budget.batches, 1), ("group", args.group, 4), ("grpo-steps", budget.grpo_steps, 2),
                         ("grpo-rounds", budget.grpo_rounds, 1)):
        if v < low:
            ap.error(f"--{flag} {v}: expected an integer >= {low}")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks or set(tasks) - set(task_names()):
        ap.error(f"--tasks {args.tasks!r}: expected a comma-separated subset of {', '.join(task_names())}")
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - {"1", "3"}:
        ap.error(f"--parts {args.parts!r}: expected 1, 3 or 1,3")

    offline()  # HF_HUB_OFFLINE=1 and friends, before anything Hugging Face is imported (workers inherit it)
    os.environ[CACHE_ENV] = "off"  # no oracle from an earlier run's disk cache: each is computed (workers inherit)
    t0 = time.perf_counter()
    results: dict = {"env": environment(), "budget": dataclasses.asdict(budget),
                     "args": {k: v for k, v in vars(args).items() if k != "json"}}
    with tempfile.TemporaryDirectory(prefix="bench-grpo-") as tmpdir, c_stdout_captured():
        if "1" in parts:
            results["rewards"] = bench_rewards(tasks, budget, args.group, args.seed)
        if "3" in parts:
            results["grpo"] = bench_grpo(args.grpo_task, budget, args.seed, Path(tmpdir), args.grpo_mode,
                                         args.grpo_attempts)
    results["wall_s"] = time.perf_counter() - t0

    env = results["env"]
    print(f"physgen GRPO benchmark  python {env['python']}  pybullet API {env['pybullet_api']}  "
          f"{env['system']}/{env['machine']} {env['cpus']} cpus  {env['date']}  load average {env['load_start']}")
    print(f"scenes TRAIN_SEED_BASE + {args.seed} + k ({SPLIT} split); reward workers are spawned processes, one "
          "robot cell each; TinyRenderer")
    blocks = []
    if "rewards" in results:
        blocks += [report_rewards(results["rewards"], budget), report_limit(results["rewards"], budget)]
    if "grpo" in results:
        blocks.append(report_grpo(results["grpo"]))
    blocks.append(summary(results))
    print_tables(blocks, results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
