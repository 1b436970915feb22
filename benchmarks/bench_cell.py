"""Robot-cell performance: camera frame rates, physics step rates, expert episode throughput.

Everything runs in ONE process on one core, so every rate is "per core". Measured:

1. camera  - frames/s of the scene camera (shift task, seed 0) at 224x224 and 640x480 (a twin camera
   with the same pose on the same client), with TinyRenderer and with the EGL plugin where it loads.
   Also image checks on the EGL frames (non-black, same geometry as tiny via segmentation masks,
   table texture / lighting honoured, deterministic, unaffected by a second EGL cell).
2. physics - RobotCell.step() on a 3-block tower, in a cell with the arm holding still and in a
   physics-only cell (CellConfig(arm=False)). The scene is reloaded before each repetition.
3. episodes - per task, K expert episodes (run_episode + ExpertPolicy sharing one Oracles without a
   disk cache): the oracle computed (timed first), the same result read back from a disk cache (an
   OracleStore in a temporary directory), and the rest (run_episode with the oracle in memory).
   Beside it two limits: the "arm-physics limit", the same episode's motor targets (recorded in an
   untimed run) replayed from its start state with only setJointMotorControlArray + stepSimulation
   per control tick, then the same settle and judge; and the "teleport limit", the same instance in a
   physics-only cell, the expert's answer applied by teleporting the block(s) its plan would move (no
   rendering, no arm), release, settle, judge.

How: time.perf_counter; the two sides of every printed ratio are measured interleaved (A B, B A, ...)
in the same run, and each ratio is the median of the per-repetition (per-episode) paired ratios;
rates are 1 / median time. Seeds are explicit (--seed). Progress goes to stderr, the table to stdout.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_cell.py [--episodes K] [--quick] [--parts 1,2,3]
        [--tasks all] [--json PATH]
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

from physgen.cell.arm import ARM_FORCES, ARM_JOINTS, FINGER_JOINTS
from physgen.cell.camera import Camera
from physgen.cell.cell import RobotCell
from physgen.cell.config import CellConfig
from physgen.cell.scene import SceneSpec
from physgen.evaluation.episode import run_episode
from physgen.motion.commands import Place, Push
from physgen.policy.expert import ExpertPolicy
from physgen.tasks import load_task, task_names
from physgen.tasks.oracle import Oracles, OracleStore
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


def settle_and_judge(cell: RobotCell, task, inst, plan, oracle) -> tuple[bool, dict]:
    """episode.conclude's release, settle and judge of the expert's answer: (success, settle record)."""
    cell.release()
    reference = {b.name: b.position for b in inst.scene.blocks} | plan.targets
    settle = cell.settle(list(plan.structure) if plan.structure is not None else None, reference=reference)
    return bool(task.judge(inst, oracle.best, plan, settle, oracle).success), settle.to_dict()


def limit_episode(cell: RobotCell, task, seed: int, split: str, oracle) -> bool:
    """The teleport limit of an expert episode: the same instance in a physics-only cell, the expert's
    answer teleported (mirrors Sandbox.trial and episode.finish)."""
    inst = task.sample(seed, split)
    cell.load(inst.scene)
    plan = task.plan(inst, oracle.best)
    for name, pos in teleports(plan).items():
        cell.teleport(name, pos, inst.scene.block(name).yaw)
    return settle_and_judge(cell, task, inst, plan, oracle)[0]


Tick = tuple[tuple[float, ...], float, int]  # arm targets, finger target, physics steps


def recorded_motion(cell: RobotCell, task, seed: int, split: str, expert, oracles) -> tuple[list, dict]:
    """Run the expert episode once, recording what the arm was told: per control tick the motor targets
    and the physics steps, and each block the gripper took over (``("unpin", name)``), up to the release
    before the settle. Returns the events and the episode's record."""
    events: list = []
    recording = [True]
    step, unpin, release = cell.step, cell.unpin, cell.release

    def on_step(n: int = 1) -> None:
        if recording[0]:
            events.append((tuple(cell.arm.hold_targets()), cell.arm.finger_target, n))
        step(n)

    def on_unpin(name: str) -> None:
        if recording[0] and name in cell.pinned:
            events.append(("unpin", name))
        unpin(name)

    def on_release() -> None:
        recording[0] = False
        release()

    cell.step, cell.unpin, cell.release = on_step, on_unpin, on_release
    try:
        record = run_episode(cell, task, seed, split, expert, oracles)
    finally:
        del cell.step, cell.unpin, cell.release
    return events, record.to_dict()


def arm_limit_episode(cell: RobotCell, task, inst, plan, oracle, events: list) -> tuple[bool, dict]:
    """The arm-physics limit: the recorded motor targets replayed from the start state (``cell`` holds
    ``inst`` as built): per control tick only setJointMotorControlArray and stepSimulation, the recorded
    hand-overs between trajectories; then the same release, settle and judge."""
    arm, cid, motor, step = cell.arm, cell.client._client, pybullet.setJointMotorControlArray, pybullet.stepSimulation
    body, control, grip = arm.body, pybullet.POSITION_CONTROL, (arm.motion.grip_force,) * 2
    gains = (0.1,) * len(ARM_JOINTS)
    for event in events:
        if event[0] == "unpin":
            cell.unpin(event[1])
            continue
        q, f, n = event
        motor(body, ARM_JOINTS, control, targetPositions=q, forces=ARM_FORCES, positionGains=gains,
              physicsClientId=cid)
        motor(body, FINGER_JOINTS, control, targetPositions=(f, f), forces=grip, physicsClientId=cid)
        for _ in range(n):
            step(physicsClientId=cid)
    return settle_and_judge(cell, task, inst, plan, oracle)


def bench_task(name: str, seeds: list[int], split: str, cells: dict[str, RobotCell], oracles: Oracles,
               store: OracleStore, expert: ExpertPolicy) -> dict:
    """Per seed: the oracle computed (``oracles`` has no disk cache; the seed is not in memory yet) and
    then read back from a disk cache (``store``), both timed; an untimed recording run; then rest
    (run_episode, the oracle now from memory), the arm-physics limit and the teleport limit,
    interleaved (A B C, C B A, ...)."""
    task = load_task(name)
    warm = seeds[-1] + 1  # one untimed episode first: caches, first-call costs
    warm_oracle = oracles.get(task, task.sample(warm, split))
    limit_episode(cells["teleport"], task, warm, split, warm_oracle)
    run_episode(cells["full"], task, warm, split, expert, oracles)
    t = {k: [] for k in ("oracle", "disk", "rest", "arm", "teleport")}
    ok = {k: 0 for k in ("full", "arm", "teleport")}
    same, computed = 0, oracles.counts["computed"]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i, seed in enumerate(seeds):
        inst = task.sample(seed, split)
        dt, oracle = timed(lambda i=inst: oracles.get(task, i))
        t["oracle"].append(dt)
        store.put(task, inst, oracle)
        dt, hit = timed(lambda i=inst: store.get(task, i))
        assert hit == oracle, f"{name} seed {seed}: the disk cache gave another result"
        t["disk"].append(dt)
        events, record = recorded_motion(cells["full"], task, seed, split, expert, oracles)
        plan = task.plan(inst, oracle.best)
        cases = {
            "rest": lambda s=seed: run_episode(cells["full"], task, s, split, expert, oracles),
            "arm": lambda i=inst, p=plan, o=oracle, e=events: arm_limit_episode(cells["arm"], task, i, p, o, e),
            "teleport": lambda s=seed, o=oracle: limit_episode(cells["teleport"], task, s, split, o),
        }
        for which in list(cases) if i % 2 == 0 else list(cases)[::-1]:
            if which == "arm":
                cells["arm"].load(inst.scene, visual=False)  # the start state, not timed
            dt, out = timed(cases[which])
            t[which].append(dt)
            if which == "rest":
                ok["full"] += bool(out.success)
            elif which == "arm":
                ok["arm"] += out[0]
                same += out[1] == record["settle"]
            else:
                ok["teleport"] += out
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    t["full"] = [o + r for o, r in zip(t["oracle"], t["rest"], strict=True)]
    t["cached"] = [d + r for d, r in zip(t["disk"], t["rest"], strict=True)]
    return {
        "episodes": len(seeds), **{f"{k}_s": median(v) for k, v in t.items()},
        "oracle_share": median([o / f for o, f in zip(t["oracle"], t["full"], strict=True)]),
        **{f"{a}_over_{b}": paired_ratio(t[a], t[b]) for a in ("full", "cached", "rest") for b in ("arm", "teleport")},
        "oracles_computed": oracles.counts["computed"] - computed, "success": ok, "arm_replay_same_settle": same,
        "cpu_over_wall": cpu / wall,
    }


def bench_episodes(budget: Budget, seed0: int, split: str, tasks: list[str] | None = None) -> dict:
    seeds = list(range(seed0, seed0 + budget.episodes))
    cells = {"full": RobotCell(CellConfig()), "arm": RobotCell(CellConfig()),
             "teleport": RobotCell(CellConfig(arm=False))}
    oracles = Oracles(disk=False)  # every oracle column computes; the disk cache is timed on its own
    expert = ExpertPolicy(oracles)
    out = {"seeds": [seeds[0], seeds[-1]], "split": split, "tasks": {}}
    with tempfile.TemporaryDirectory(prefix="physgen-bench-oracles-") as tmp:
        store = OracleStore(tmp, oracles.physics)
        for name in tasks or task_names():
            progress(f"episodes: {name} x{len(seeds)} ...")
            out["tasks"][name] = bench_task(name, seeds, split, cells, oracles, store, expert)
    for cell in cells.values():
        cell.close()
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
    lines = [f"3. Expert episodes: ms per episode and ratios to the two limits  (K={b.episodes} per task, seeds "
             f"{e['seeds'][0]}..{e['seeds'][1]}, split {e['split']}; medians per episode; tiny 224x224 camera)",
             "   oracle = the oracle computed (no disk cache; `computed` counts them); disk = the same result read",
             "            back from the shared disk cache (a hit);",
             "   rest   = run_episode with the oracle in memory (sample, build, draw a frame if the policy looks:",
             "            the expert does not, expert, arm, settle, judge)",
             "   full   = oracle + rest; cached = disk + rest (an episode once its scene's oracle is on disk)",
             "   arm limit = the same episode's recorded motor targets replayed from its start state: per control",
             "            tick only setJointMotorControlArray + stepSimulation (no render, no IK); the same settle",
             "   teleport = same instance, physics-only cell (built), expert's answer teleported, settle, judge",
             "   ratios: medians of per-episode paired ratios (rest, arm limit, teleport measured interleaved)",
             f"   {'task':<15}{'oracle':>7}{'disk':>6}{'rest':>6}{'full':>6}{'arm lim':>8}{'telep':>6}"
             f"{'full/arm':>9}{'full/tel':>9}{'cached/arm':>11}{'cached/tel':>11}"
             f"{'computed':>9}{'ok full':>8}{'ok arm':>7}{'ok tel':>7}{'replay=':>8}{'cpu/wall':>9}",
             f"   {'':<15}{'ms':>7}{'ms':>6}{'ms':>6}{'ms':>6}{'ms':>8}{'ms':>6}"]
    for name, t in e["tasks"].items():
        k, s = t["episodes"], t["success"]
        lines.append(
            f"   {name:<15}{1e3 * t['oracle_s']:>7.0f}{1e3 * t['disk_s']:>6.1f}{1e3 * t['rest_s']:>6.0f}"
            f"{1e3 * t['full_s']:>6.0f}{1e3 * t['arm_s']:>8.0f}{1e3 * t['teleport_s']:>6.0f}"
            f"{t['full_over_arm']:>8.2f}x{t['full_over_teleport']:>8.1f}x"
            f"{t['cached_over_arm']:>10.2f}x{t['cached_over_teleport']:>10.1f}x"
            f"{t['oracles_computed']:>6}/{k:<2}{s['full']:>5}/{k:<2}{s['arm']:>4}/{k:<2}{s['teleport']:>4}/{k:<2}"
            f"{t['arm_replay_same_settle']:>5}/{k:<2}{t['cpu_over_wall']:>9.2f}")
    lines.append("   replay= : arm-limit replays whose settle record equals the episode's (the replay is faithful)")
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
    ap.add_argument("--parts", default="1,2,3", help="which tables: 1 camera, 2 physics, 3 episodes (default all)")
    ap.add_argument("--tasks", default="all", help="episode tasks, comma-separated (default all)")
    args = ap.parse_args(argv)
    if args.episodes is not None and args.episodes < 1:
        ap.error(f"--episodes {args.episodes}: expected a positive integer")
    parts = set(args.parts.split(","))
    if not parts or parts - {"1", "2", "3"}:
        ap.error(f"--parts {args.parts}: expected a comma-separated subset of 1,2,3")
    tasks = task_names() if args.tasks == "all" else args.tasks.split(",")
    if set(tasks) - set(task_names()):
        ap.error(f"--tasks {args.tasks}: expected names from {task_names()}")
    budget = Budget.quick(args.episodes) if args.quick else Budget(episodes=args.episodes or Budget.episodes)

    t0 = time.perf_counter()
    results: dict = {"env": environment(), "budget": dataclasses.asdict(budget)}
    with c_stdout_captured():  # PyBullet's C banners would otherwise land in the table
        if "1" in parts:
            results["camera"] = bench_camera(budget)
        if "2" in parts:
            results["physics"] = bench_physics(budget)
        if "3" in parts:
            results["episodes"] = bench_episodes(budget, args.seed, args.split, tasks)
    results["wall_s"] = time.perf_counter() - t0

    env = results["env"]
    print(f"physgen cell benchmark  python {env['python']}  pybullet API {env['pybullet_api']}  "
          f"{env['system']}/{env['machine']} {env['cpus']} cpus  {env['date']}  one process (= one core)")
    reports = {"camera": report_camera, "physics": report_physics, "episodes": report_episodes}
    print_tables([f(results[k], budget) for k, f in reports.items() if k in results], results, args.json)
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
