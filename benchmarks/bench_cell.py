"""Robot-cell performance: camera frame rates, physics step rates, expert episode throughput.

Everything runs in ONE process on one core, so every rate is "per core". Measured:

1. camera  - frames/s of the scene camera (shift task, seed 0) at 224x224 and 640x480 (a twin camera
   with the same pose on the same client), with TinyRenderer and with the EGL plugin where it loads.
   Also image checks on the EGL frames (non-black, same geometry as tiny via segmentation masks,
   table texture / lighting honoured, deterministic, unaffected by a second EGL cell).
2. physics - RobotCell.step() on a 3-block tower, in a cell with the arm holding still and in a
   physics-only cell (CellConfig(arm=False)). The scene is reloaded before each repetition.
3. episodes - per task, K expert episodes (run_episode + ExpertPolicy sharing one Oracles), split into
   the oracle (Oracles.get timed first; run_episode then hits its cache) and the rest. Beside it the
   "physics-only limit": the same instance in a physics-only cell, the expert's answer applied by
   teleporting the block(s) its plan would move (no rendering, no arm), release, settle, judge.

How: time.perf_counter; the two sides of every printed ratio are measured interleaved (A B, B A, ...)
in the same run, and each ratio is the median of the per-repetition (per-episode) paired ratios;
rates are 1 / median time. Seeds are explicit (--seed). Progress goes to stderr, the table to stdout.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_cell.py [--episodes K] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import pybullet

from physgen.cell.camera import Camera
from physgen.cell.cell import RobotCell
from physgen.cell.config import CellConfig
from physgen.cell.primitives import Place, Push
from physgen.cell.scene import SceneSpec
from physgen.evaluation.episode import run_episode
from physgen.policy.expert import ExpertPolicy
from physgen.tasks import load_task, task_names
from physgen.tasks.oracle import Oracles
from physgen.tasks.towers import stack

RESOLUTIONS = {"224x224": (224, 224), "640x480": (640, 480)}
CAMERA_SCENE = ("shift", 0, "train")
OTHER_SCENE = ("overhang", 3, "train")  # for the second-EGL-cell check
CUBE = (0.05, 0.05, 0.05)
NO_ARM = "tiny, arm=False"  # the same scene without the Panda in view: what the arm costs a frame


@dataclasses.dataclass(frozen=True)
class Budget:
    episodes: int = 20
    camera_reps: int = 7
    camera_frames: int = 5
    physics_reps: int = 21
    physics_steps: int = 240

    @classmethod
    def quick(cls, episodes: int | None) -> Budget:
        return cls(episodes or 1, camera_reps=3, camera_frames=2, physics_reps=5, physics_steps=120)


# --- helpers ---------------------------------------------------------------------------------------
def progress(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleave(cases: dict, reps: int) -> tuple[dict, dict]:
    """Time every case once per repetition, reversing the order on odd repetitions (A B, B A, ...).
    Returns wall times and process CPU times (all threads) per case."""
    wall: dict = {k: [] for k in cases}
    cpu: dict = {k: [] for k in cases}
    keys = list(cases)
    for rep in range(reps):
        for k in keys if rep % 2 == 0 else keys[::-1]:
            c0 = time.process_time()
            wall[k].append(timed(cases[k])[0])
            cpu[k].append(time.process_time() - c0)
    return wall, cpu


def paired_ratio(a: list[float], b: list[float]) -> float:
    """Median over repetitions of a[i] / b[i]."""
    return median([x / y for x, y in zip(a, b, strict=True)])


@contextlib.contextmanager
def c_stdout_captured():
    """Collect what C code prints on fd 1 (PyBullet's connect and EGL banners) so the table stays clean.
    Yields a list that holds the captured text afterwards."""
    out: list[str] = []
    try:
        libc = ctypes.CDLL(None)
    except OSError:  # not a POSIX libc: leave stdout alone
        yield out
        return
    sys.stdout.flush()
    libc.fflush(None)
    saved = os.dup(1)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield out
        finally:
            sys.stdout.flush()
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode(errors="replace"))


def scene_of(task: str, seed: int, split: str) -> SceneSpec:
    return load_task(task).sample(seed, split).scene


# --- 1. camera -------------------------------------------------------------------------------------
def twin_camera(cell: RobotCell, width: int, height: int) -> Camera:
    """A camera with the scene camera's pose and lens at another resolution, on the same client."""
    cfg = dataclasses.replace(cell.config.scene_camera, width=width, height=height)
    flag = pybullet.ER_BULLET_HARDWARE_OPENGL if cell.renderer_name == "egl" else pybullet.ER_TINY_RENDERER
    cam = Camera(cell.client, cfg, flag)
    cam.look(cell.scene_camera.eye, cell.scene_camera.target, cell.scene_camera.up)
    return cam


def frame_sources(cell: RobotCell, scene: SceneSpec) -> dict[str, Callable[[], np.ndarray]]:
    big = twin_camera(cell, *RESOLUTIONS["640x480"])
    assert (cell.scene_camera.cfg.width, cell.scene_camera.cfg.height) == RESOLUTIONS["224x224"]
    # render(reuse=False): every frame drawn (the cell reuses an unchanged scene's frame otherwise)
    return {"224x224": lambda: cell.render(reuse=False), "640x480": lambda: big.render(scene.appearance)}


def segmentation(cell: RobotCell) -> np.ndarray:
    cam, c = cell.scene_camera, cell.client
    cfg = cam.cfg
    view = c.computeViewMatrix(cam.eye, cam.target, cam.up)
    proj = c.computeProjectionMatrixFOV(cfg.fov_deg, cfg.width / cfg.height, cfg.near, cfg.far)
    flag = pybullet.ER_BULLET_HARDWARE_OPENGL if cell.renderer_name == "egl" else pybullet.ER_TINY_RENDERER
    return np.asarray(c.getCameraImage(cfg.width, cfg.height, view, proj, renderer=flag)[4]).reshape(cfg.height,
                                                                                                    cfg.width)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def changes_image(cell: RobotCell, scene: SceneSpec, base: np.ndarray, **appearance) -> bool:
    """Does re-rendering ``scene`` with these appearance fields changed give a visibly different frame?"""
    cell.load(dataclasses.replace(scene, appearance=dataclasses.replace(scene.appearance, **appearance)))
    changed = mean_abs_diff(cell.render(), base) > 0.1
    cell.load(scene)
    return changed


def image_checks(egl: RobotCell, tiny: RobotCell, scene: SceneSpec) -> dict:
    """Is the EGL frame a faithful image of the scene? (Run before the second-EGL-cell check.)"""
    frames = [egl.render() for _ in range(3)]
    ref = tiny.render()
    seg_e, seg_t = segmentation(egl), segmentation(tiny)
    bodies = [int(b) for b in np.unique(seg_t) if b > 0]  # 0 is the table, -1 the background
    iou = min(float(((seg_e == b) & (seg_t == b)).sum() / max(1, ((seg_e == b) | (seg_t == b)).sum()))
              for b in bodies)
    checks = {
        "mean": float(frames[0].mean()), "std": float(frames[0].std()),
        "not_black": bool(frames[0].mean() > 10 and frames[0].std() > 5),
        "mean_abs_diff_vs_tiny": mean_abs_diff(frames[0], ref),
        "min_body_iou_vs_tiny": iou,
        "deterministic": all(np.array_equal(frames[0], f) for f in frames[1:]),
    }
    for name, change in {"table_texture": {"table_texture": "plain"},
                         "light_direction": {"light_direction": (-0.6, 0.4, 0.5)},
                         "ambient": {"ambient": 0.3}, "shadow": {"shadow": False}}.items():
        checks[f"honours_{name}"] = {r: changes_image(c, scene, c.render(), **change)
                                     for r, c in (("tiny", tiny), ("egl", egl))}
    return checks


def second_egl_cell_check(egl: RobotCell, scene: SceneSpec) -> float:
    """Mean |difference| of the first EGL cell's frame before and after a second EGL cell exists."""
    before = egl.render()
    with RobotCell(CellConfig(renderer="egl")) as other:
        other.load(scene_of(*OTHER_SCENE))
        other.render()
        after = egl.render()
    return mean_abs_diff(before, after)


def open_cell(config: CellConfig, scene: SceneSpec, log: list[str]) -> RobotCell | None:
    """A cell showing ``scene``, or None when it could not get the renderer asked for."""
    with c_stdout_captured() as out:
        cell = RobotCell(config)
    log.extend(out)
    if cell.renderer_name != config.renderer:
        cell.close()
        return None
    cell.load(scene)
    return cell


def bench_camera(budget: Budget) -> dict:
    progress("camera ...")
    scene = scene_of(*CAMERA_SCENE)
    log: list[str] = []
    configs = {"tiny": CellConfig(), "egl": CellConfig(renderer="egl"), NO_ARM: CellConfig(arm=False)}
    cells = {r: open_cell(cfg, scene, log) for r, cfg in configs.items()}
    gl = re.search(r"GL_RENDERER=(.*)", "".join(log))
    result: dict = {"scene": list(CAMERA_SCENE), "egl_available": cells["egl"] is not None,
                    "egl_gl_renderer": gl.group(1).strip() if gl else None}
    cases = {}
    for r, cell in cells.items():
        for res, render in ({} if cell is None else frame_sources(cell, scene)).items():
            for _ in range(2):  # warm-up: EGL's first frame compiles shaders
                render()
            cases[(r, res)] = lambda f=render: [f() for _ in range(budget.camera_frames)]
    times, cpu = interleave(cases, budget.camera_reps)
    per_frame = {k: [t / budget.camera_frames for t in v] for k, v in times.items()}
    result["cpu_over_wall"] = {f"{r}@{res}": sum(cpu[(r, res)]) / sum(times[(r, res)]) for r, res in times}
    result["ms_per_frame"] = {f"{r}@{res}": 1e3 * median(v) for (r, res), v in per_frame.items()}
    result["fps"] = {f"{r}@{res}": 1.0 / median(v) for (r, res), v in per_frame.items()}
    result["ratio_640_over_224_frame_time"] = {
        r: paired_ratio(per_frame[(r, "640x480")], per_frame[(r, "224x224")]) for r in cells if cells[r]}
    if cells["egl"] is not None:
        result["ratio_egl_over_tiny_frame_time"] = {
            res: paired_ratio(per_frame[("egl", res)], per_frame[("tiny", res)]) for res in RESOLUTIONS}
        result["egl_checks"] = image_checks(cells["egl"], cells["tiny"], scene)
        result["egl_checks"]["second_egl_cell_mean_abs_diff"] = second_egl_cell_check(cells["egl"], scene)
    for cell in cells.values():
        if cell is not None:
            cell.close()
    return result


# --- 2. physics ------------------------------------------------------------------------------------
def tower3() -> SceneSpec:
    names = ["red", "green", "blue"]
    return SceneSpec(tuple(stack(names, names, [CUBE] * 3, [0.0, 0.0, 0.0])))


def bench_physics(budget: Budget) -> dict:
    progress("physics ...")
    scene = tower3()
    cells = {"arm": RobotCell(CellConfig()), "physics-only": RobotCell(CellConfig(arm=False))}

    n = budget.physics_steps
    times: dict[str, list[float]] = {k: [] for k in cells}
    for rep in range(budget.physics_reps):  # A B, B A, ...; reloaded first so every repetition does the same work
        for k in list(cells) if rep % 2 == 0 else list(cells)[::-1]:
            cells[k].load(scene)
            times[k].append(timed(lambda c=cells[k]: c.step(n))[0])
    dt = cells["arm"].config.physics.timestep
    for cell in cells.values():
        cell.close()
    sps = {k: budget.physics_steps / median(v) for k, v in times.items()}
    return {
        "steps_per_rep": budget.physics_steps, "timestep": dt,
        "steps_per_s": sps, "x_real_time": {k: v * dt for k, v in sps.items()},
        "ratio_arm_over_physics_only_step_time": paired_ratio(times["arm"], times["physics-only"]),
    }


# --- 3. episodes -----------------------------------------------------------------------------------
def teleports(plan) -> dict[str, tuple[float, float, float]]:
    """Where the expert's plan puts each block: the physics-only shortcut for pick + place."""
    moves = {}
    for cmd in plan.commands:
        if isinstance(cmd, Push):
            raise NotImplementedError("a push has no teleport equivalent")
        if isinstance(cmd, Place):
            x, y, z = cmd.target
            moves[cmd.block] = (x, y, z + cmd.release_height)
    return moves


def limit_episode(cell: RobotCell, task, seed: int, split: str, oracle) -> bool:
    """The physics-only limit of an expert episode (mirrors Sandbox.trial and episode.finish)."""
    inst = task.sample(seed, split)
    cell.load(inst.scene)
    plan = task.plan(inst, oracle.best)
    for name, pos in teleports(plan).items():
        cell.teleport(name, pos, inst.scene.block(name).yaw)
    cell.release()
    reference = {b.name: b.position for b in inst.scene.blocks} | plan.targets
    settle = cell.settle(list(plan.structure) if plan.structure is not None else None, reference=reference)
    return bool(task.judge(inst, oracle.best, plan, settle, oracle).success)


def bench_task(name: str, seeds: list[int], split: str, arm_cell: RobotCell, phys_cell: RobotCell,
               oracles: Oracles, expert: ExpertPolicy) -> dict:
    task = load_task(name)
    warm = seeds[-1] + 1  # one untimed episode first: caches, first-call costs
    limit_episode(phys_cell, task, warm, split, oracles.get(task, task.sample(warm, split)))
    run_episode(arm_cell, task, warm, split, expert, oracles)
    t_oracle, t_rest, t_limit, ok_full, ok_limit = [], [], [], 0, 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i, seed in enumerate(seeds):
        t, oracle = timed(lambda s=seed: oracles.get(task, task.sample(s, split)))
        t_oracle.append(t)
        full = lambda s=seed: run_episode(arm_cell, task, s, split, expert, oracles)  # noqa: E731
        limit = lambda s=seed, o=oracle: limit_episode(phys_cell, task, s, split, o)  # noqa: E731
        for which in ("full", "limit") if i % 2 == 0 else ("limit", "full"):
            t, out = timed(full if which == "full" else limit)
            if which == "full":
                t_rest.append(t)
                ok_full += bool(out.success)
            else:
                t_limit.append(t)
                ok_limit += bool(out)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    t_full = [o + r for o, r in zip(t_oracle, t_rest, strict=True)]
    return {
        "episodes": len(seeds), "oracle_s": median(t_oracle), "rest_s": median(t_rest),
        "full_s": median(t_full), "limit_s": median(t_limit),
        "oracle_share": median([o / f for o, f in zip(t_oracle, t_full, strict=True)]),
        "full_per_min": 60.0 / median(t_full), "rest_per_min": 60.0 / median(t_rest),
        "limit_per_min": 60.0 / median(t_limit),
        "full_over_limit_rate": 1.0 / paired_ratio(t_full, t_limit),
        "full_x_slower": paired_ratio(t_full, t_limit), "rest_x_slower": paired_ratio(t_rest, t_limit),
        "success_full": ok_full, "success_limit": ok_limit, "cpu_over_wall": cpu / wall,
    }


def bench_episodes(budget: Budget, seed0: int, split: str) -> dict:
    seeds = list(range(seed0, seed0 + budget.episodes))
    arm_cell, phys_cell, oracles = RobotCell(CellConfig()), RobotCell(CellConfig(arm=False)), Oracles()
    expert = ExpertPolicy(oracles)
    out = {"seeds": [seeds[0], seeds[-1]], "split": split, "tasks": {}}
    for name in task_names():
        progress(f"episodes: {name} x{len(seeds)} ...")
        out["tasks"][name] = bench_task(name, seeds, split, arm_cell, phys_cell, oracles, expert)
    arm_cell.close()
    phys_cell.close()
    oracles.close()
    return out


# --- report ----------------------------------------------------------------------------------------
def report_camera(c: dict, b: Budget) -> list[str]:
    px = (640 * 480) / (224 * 224)
    lines = [f"1. Scene camera: frames/s  ({c['scene'][0]} seed {c['scene'][1]} scene; median of {b.camera_reps} "
             f"interleaved reps x {b.camera_frames} frames)",
             f"   {'renderer':<16}{'224x224':>16}{'640x480':>16}{'640x480/224x224':>17}{'cpu/wall':>10}",
             f"   {'':<16}{'fps (ms/frame)':>16}{'fps (ms/frame)':>16}{f'frame time (px x{px:.1f})':>23}"]
    for r in ("tiny", "egl", NO_ARM):
        if r == "egl" and not c["egl_available"]:
            lines.append("   egl: not available (RobotCell fell back to tiny)")
            continue
        f224, f640 = c["fps"][f"{r}@224x224"], c["fps"][f"{r}@640x480"]
        ms224, ms640 = c["ms_per_frame"][f"{r}@224x224"], c["ms_per_frame"][f"{r}@640x480"]
        cpu = "/".join(f"{c['cpu_over_wall'][f'{r}@{res}']:.2f}" for res in RESOLUTIONS)
        lines.append(f"   {r:<16}{f224:>7.1f} ({ms224:5.0f} ms){f640:>7.1f} ({ms640:5.0f} ms)"
                     f"{c['ratio_640_over_224_frame_time'][r]:>16.2f}x{cpu:>10}")
    if c["egl_available"]:
        e = c["ratio_egl_over_tiny_frame_time"]
        lines.append(f"   frame time egl/tiny:  224x224 {e['224x224']:.2f}x   640x480 {e['640x480']:.2f}x   "
                     "(<1: egl faster)")
        lines.append(f"   egl GL_RENDERER: {c['egl_gl_renderer']}")
        lines += ["   egl image checks:"] + [f"     {s}" for s in egl_findings(c["egl_checks"])]
    return lines


def egl_findings(k: dict) -> list[str]:
    yes = {True: "yes", False: "NO"}
    out = [f"renders a non-black image: {yes[k['not_black']]} (mean {k['mean']:.0f}, std {k['std']:.0f})",
           f"same geometry as tiny (segmentation IoU, worst body): {k['min_body_iou_vs_tiny']:.2f}; "
           f"mean |egl - tiny| {k['mean_abs_diff_vs_tiny']:.1f}/255",
           f"repeated frames byte-identical: {yes[k['deterministic']]}"]
    for name in ("table_texture", "light_direction", "ambient", "shadow"):
        h = k[f"honours_{name}"]
        if h["tiny"]:
            out.append(f"honours Appearance.{name}: {yes[h['egl']]}" + ("" if h["egl"] else " (tiny does)"))
    d = k["second_egl_cell_mean_abs_diff"]
    out.append(f"frame unchanged when a 2nd EGL cell exists in the process: {yes[d <= 1.0]} "
               f"(mean |diff| {d:.1f}/255)")
    return out


def report_physics(p: dict, b: Budget) -> list[str]:
    lines = [f"2. Physics: cell.step() on a 3-block tower  (median of {b.physics_reps} interleaved reps x "
             f"{p['steps_per_rep']} steps, dt {p['timestep']:.5f} s)",
             f"   {'cell':<28}{'steps/s':>10}{'x real time':>14}"]
    for k, label in (("arm", "arm holding still"), ("physics-only", "physics-only (arm=False)")):
        lines.append(f"   {label:<28}{p['steps_per_s'][k]:>10.0f}{p['x_real_time'][k]:>13.1f}x")
    lines.append(f"   step time arm / physics-only: {p['ratio_arm_over_physics_only_step_time']:.2f}x")
    return lines


def report_episodes(e: dict, b: Budget) -> list[str]:
    lines = [f"3. Expert episodes per minute per core  (K={b.episodes} per task, seeds {e['seeds'][0]}.."
             f"{e['seeds'][1]}, split {e['split']}; medians per episode; tiny 224x224 camera)",
             "   full = oracle + rest (run_episode: sample, load, render, expert, arm, settle, judge);",
             "   limit = same instance, physics-only cell, expert's answer teleported, settle, judge",
             f"   {'task':<15}{'oracle ms':>10}{'rest ms':>9}{'oracle %':>9}{'full/min':>10}{'limit/min':>10}"
             f"{'full/limit':>11}{'full slower':>12}{'rest slower':>12}{'ok full':>8}{'ok lim':>7}{'cpu/wall':>9}"]
    for name, t in e["tasks"].items():
        lines.append(
            f"   {name:<15}{1e3 * t['oracle_s']:>10.0f}{1e3 * t['rest_s']:>9.0f}{100 * t['oracle_share']:>8.0f}%"
            f"{t['full_per_min']:>10.1f}{t['limit_per_min']:>10.1f}{t['full_over_limit_rate']:>11.3g}"
            f"{t['full_x_slower']:>11.1f}x{t['rest_x_slower']:>11.1f}x"
            f"{t['success_full']:>5}/{t['episodes']:<2}{t['success_limit']:>4}/{t['episodes']:<2}{t['cpu_over_wall']:>9.2f}")
    return lines


def environment() -> dict:
    return {"python": platform.python_version(), "pybullet_api": pybullet.getAPIVersion(),
            "machine": platform.machine(), "system": platform.system(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=None, help="expert episodes per task (default 20; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="smoke run (~30 s): few reps, 1 episode per task")
    ap.add_argument("--seed", type=int, default=0, help="first episode seed (default 0)")
    ap.add_argument("--split", default="train", choices=("train", "heldout"))
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = ap.parse_args(argv)
    if args.episodes is not None and args.episodes < 1:
        ap.error(f"--episodes {args.episodes}: expected a positive integer")
    budget = Budget.quick(args.episodes) if args.quick else Budget(episodes=args.episodes or Budget.episodes)

    t0 = time.perf_counter()
    with c_stdout_captured():  # PyBullet's C banners would otherwise land in the table
        results = {"env": environment(), "budget": dataclasses.asdict(budget), "camera": bench_camera(budget),
                   "physics": bench_physics(budget), "episodes": bench_episodes(budget, args.seed, args.split)}
    results["wall_s"] = time.perf_counter() - t0

    env = results["env"]
    print(f"physgen cell benchmark  python {env['python']}  pybullet API {env['pybullet_api']}  "
          f"{env['system']}/{env['machine']} {env['cpus']} cpus  {env['date']}  one process (= one core)")
    print_tables([report_camera(results["camera"], budget), report_physics(results["physics"], budget),
                  report_episodes(results["episodes"], budget)], results, args.json)
    return 0


def print_tables(blocks: list[list[str]], results: dict, json_path: str | None) -> None:
    """Print each table block, the total wall time, and write ``results`` as JSON when asked."""
    for block in blocks:
        print()
        print("\n".join(block))
    print(f"\ntotal wall time {results['wall_s']:.0f} s")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {json_path}")


if __name__ == "__main__":
    sys.exit(main())
