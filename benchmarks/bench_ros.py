"""ROS 2 transport performance: streaming, asking and recording over real DDS between processes, each
against the same work done in one process.

Every node runs as a process of its own (`python -m physgen.cli node NAME --ros-args -p ...`, as `ros2 run`
starts it) in this run's own ROS domain (random in 101..230, printed in the header) with
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, so no DDS traffic leaves the host. Node processes die with the
benchmark: SIGINT (and a wait) at the end of each part and on any error, SIGKILL when the benchmark itself is
killed (Linux PR_SET_PDEATHSIG). The benchmark process holds one rclpy node, spun by a single-threaded
executor on a background thread, that publishes, subscribes and timestamps (time.perf_counter in the
callbacks). The scene is task stability, seed --seed, train split (episode.begin in process; a cell/reset
record for a cell node).

1. streaming - frames/s of the cell node streaming camera/image_raw (rate_hz 0: as fast as it renders;
   cell.scene_camera.width/height set the resolution) received in the benchmark process (IMAGE_QOS), against
   RobotCell.render() called in a loop in the benchmark process on the same scene at the same resolution.
   At 224x224 and 640x480, one node process per resolution. Three cases, interleaved per repetition
   (A B C, C B A, ...), --phase-seconds each:
     in-process   render() in a loop while the node is paused (SIGSTOP); fps = frames / time;
     stream       the node running (SIGCONT); after 0.5 s of settling, the frames arriving in the window;
                  fps = (n - 1) / (last arrival - first arrival);
     stream+jpeg  the same with a second subscription, on camera/image_raw/compressed, that makes the node
                  JPEG-encode every frame too (the VLM node subscribes to both).
   Ratios are medians of per-repetition paired ratios; transport cost = 1 - stream/in-process (goal < 5%).
   The node runs with reuse_frames false and the in-process loop calls render(reuse=False): both draw every
   frame (an unchanged scene's frame is otherwise reused, and a cache hit is not a render). A phase that
   saw no frame makes its ratios "n/a" (not measured), never a crash.
   "sent" counts the frames the node published in the window (its joint_states, one per frame, reliable,
   depth 10), "lost" those of them that never arrived (the camera QoS keeps only the latest frame);
   "delivery" is stamp -> subscriber callback (the node stamps a frame after rendering it, before
   converting and publishing it); cpu/wall is the node's CPU time (all its threads, /proc) over the window.
   "same frame" checks that a streamed frame equals the in-process one byte for byte. Then the per-frame
   costs of the node's and a subscriber's extra work, timed in this process on the same frame (median of
   20 calls, 5 with --quick): image_msg, rclpy serialize/deserialize of the Image, image_array, JPEG encode
   (compressed_msg) and decode (compressed_array), as a share of one render. Last, where a streaming node's
   time goes (224x224): the real CellNode class in this process (its own rclpy context, no subscriber),
   interleaved like the cases above: render() in a loop; publish_frame() in a loop (render + messages +
   publish, no executor); its 0-period timer spun by a SingleThreadedExecutor; and by the
   SingleThreadedExecutor that physgen_nodes.runner.run_node (so every node process) uses, against the
   MultiThreadedExecutor it used before.
2. camera-to-answer latency - a cell node streaming 224x224 at --stream-hz and a VLM node (policy, seed,
   model; torch limited to --threads through OMP_NUM_THREADS) in two processes; the benchmark publishes a
   vlm/instruction record (frame_after_ns 0: the latest frame) and times publish -> vlm/answer received,
   one request at a time, --requests of them, interleaved (A B, B A, ...) with as many direct calls of
   policy.act(observation) + codec.parse in the benchmark process (torch.set_num_threads(--threads)) on the
   frame the cell node shows (rendered in process, the same bytes). Policies: chance (seed --seed; transport
   dominates) and vlm with the tiny-qwen2-vl recipe's model (resolve_model: built locally into the model
   cache if missing, never downloaded; HF_HUB_OFFLINE=1 here and in the nodes). The answer's own per-stage
   latency (frame age, preprocess, generate, parse) is reported too; "ROS extra" = ROS - (preprocess +
   generate + parse). "same answer" compares the node's text with the in-process text (vlm only: greedy).
   Every case runs untimed first. The cell node keeps streaming (and JPEG-encoding, since the VLM node
   subscribes to the compressed topic too) during both sides; its CPU load is printed.
3. recording - the recorder node in a process (topics camera/image_raw and joint_states, MCAP bag in a
   temporary directory) while the benchmark publishes one pre-rendered 640x480 rgb8 frame (a RobotCell whose
   scene camera is 640x480) with a fresh header (image_msg) plus the arm's joint_states, both at --rate-hz
   for --seconds, on a steady schedule (absolute deadlines t0 + k/rate). It reports published / received /
   written / dropped per topic (the recorder's last recorder/status record once it has received all it
   will), the achieved publish rate and lateness (the publishers wait until the recorder acknowledged
   every message before they go), stops the recorder with SIGINT (it closes the bag) and reads the bag back
   (bag_info: metadata counts; read_bag: every message counted and its header stamp matched against the
   published ones, which names any publication missing; the first image compared with the published frame).
   "reported" is the recorder's own count of lost messages (gaps in each publisher's publication numbers),
   which should equal "lost" (published - received).

Progress goes to stderr, the tables to stdout; node logs to a temporary directory (their tail is printed if a
node fails). Seeds are explicit (--seed).

    .venv/bin/python benchmarks/bench_ros.py [--quick] [--requests N] [--seconds S] [--parts 1,2,3] [--json PATH]
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_cell import c_stdout_captured, median, paired_ratio, print_tables, progress

from physgen.cell.cell import RobotCell
from physgen.cell.config import CameraConfig, CellConfig
from physgen.evaluation.episode import begin
from physgen.models.hub import offline
from physgen.policy.base import Observation
from physgen.tasks import load_task
from physgen.tasks.codec import parse

# DDS stays on this host, in a domain of its own picked per run. Set before rclpy is imported (only inside
# the functions below) and passed to every node process this run starts.
assert "rclpy" not in sys.modules, "bench_ros must set the ROS environment before rclpy is imported"
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(101, 230))
DOMAIN_ID = int(os.environ["ROS_DOMAIN_ID"])

ROOT = Path(__file__).resolve().parents[1]
RESOLUTIONS = {"224x224": (224, 224), "640x480": (640, 480)}
TASK, SPLIT = "stability", "train"
RECIPE = "tiny-qwen2-vl"
POLICIES = ("chance", "vlm")
STREAM_CASES = ("in-process", "stream", "stream+jpeg")
RECORDED = ("camera/image_raw", "joint_states")
SPLIT_RES = "224x224"  # where part 1 splits the node's time

# A node process: asks Linux to SIGKILL it when the benchmark dies (even by SIGKILL), then runs
# `physgen node NAME --ros-args ...` exactly as `python -m physgen.cli node NAME ...` would.
NODE_MAIN = """\
import ctypes, os, runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored (a shell's `&`)
if sys.platform.startswith("linux"):
    ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != int(sys.argv[1]):  # the benchmark died before prctl
        sys.exit(1)
sys.argv = ["physgen", *sys.argv[2:]]
runpy.run_module("physgen.cli", run_name="__main__", alter_sys=True)
"""


@dataclasses.dataclass(frozen=True)
class Budget:
    reps: int = 4  # interleaved repetitions of each streaming case
    phase_s: float = 3.0  # measured seconds per streaming phase
    settle_s: float = 0.5  # after resuming a node, before its frames count
    requests: int = 40  # per policy, each way
    seconds: float = 10.0  # recording
    micro: int = 20  # calls per per-frame cost

    @classmethod
    def quick(cls) -> Budget:
        return cls(reps=2, phase_s=1.5, settle_s=0.5, requests=8, seconds=3.0, micro=5)


# --- node processes --------------------------------------------------------------------------------
def ros_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(ros_value(x) for x in v) + "]"
    return str(v)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (Linux /proc; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class NodeProcess:
    label: str
    proc: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def cpu_s(self) -> float:
        return cpu_seconds(self.pid)

    def tail(self, n: int = 25) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"    | {ln}" for ln in lines[-n:])

    def check(self) -> None:
        if not self.alive():
            raise RuntimeError(f"node {self.label} exited with status {self.proc.returncode}:\n{self.tail()}")


class Nodes:
    """The node processes of this run. ``stop`` sends SIGCONT + SIGINT (a clean rclpy shutdown: the recorder
    closes its bag) and waits, then SIGKILLs; ``stop_all`` runs at exit whatever happened."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.running: list[NodeProcess] = []

    def start(self, label: str, name: str, params: dict, env: dict[str, str] | None = None) -> NodeProcess:
        args = [sys.executable, "-c", NODE_MAIN, str(os.getpid()), "node", name, "--ros-args"]
        for k, v in params.items():
            args += ["-p", f"{k}:={ros_value(v)}"]
        full = {**os.environ, **(env or {}), "ROS_DOMAIN_ID": str(DOMAIN_ID),
                "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        log = self.logdir / f"{label}.log"
        with open(log, "w") as f:
            proc = subprocess.Popen(args, env=full, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                    cwd=ROOT)
        node = NodeProcess(label, proc, log)
        self.running.append(node)
        progress(f"started {label} (pid {proc.pid}): physgen node {name} "
                 + " ".join(f"{k}:={ros_value(v)}" for k, v in params.items()))
        return node

    def stop(self, node: NodeProcess, timeout: float = 30.0) -> int:
        if node.alive():
            with contextlib.suppress(ProcessLookupError):  # it has just exited
                node.resume()
                node.proc.send_signal(signal.SIGINT)
            try:
                node.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                progress(f"{node.label} ignored SIGINT for {timeout:.0f} s: SIGKILL")
                node.proc.kill()
                node.proc.wait()
        if node in self.running:
            self.running.remove(node)
        return node.proc.returncode

    def stop_all(self) -> None:
        for node in list(self.running):
            self.stop(node, timeout=15.0)


# --- this process's ROS side -----------------------------------------------------------------------
class Bench:
    """One rclpy node in this process, spun on a background thread; callbacks append under ``cond``."""

    def __init__(self):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.signals import SignalHandlerOptions

        self._rclpy = rclpy
        self.ctx = Context()
        # no rclpy signal handlers here: Ctrl-C is a KeyboardInterrupt, so the nodes are stopped in order
        rclpy.init(context=self.ctx, domain_id=DOMAIN_ID, signal_handler_options=SignalHandlerOptions.NO)
        self.node = Node("bench_ros", context=self.ctx)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self.executor.spin, name="bench-ros-spin", daemon=True)
        self.thread.start()

    def wait(self, pred: Callable[[], bool], timeout: float, nodes: tuple[NodeProcess, ...] = ()) -> bool:
        """Wait until ``pred()`` (checked under ``cond``); False on timeout; raises if one of ``nodes`` died."""
        end = time.monotonic() + timeout
        while True:
            with self.cond:
                if self.cond.wait_for(pred, timeout=max(0.0, min(0.5, end - time.monotonic()))):
                    return True
            for n in nodes:
                n.check()
            if time.monotonic() >= end:
                return False

    def records(self, topic: str, kind: str, depth: int = 10):
        """A subscription collecting ``(arrival perf_counter, record)`` of ``kind`` on ``topic``."""
        from std_msgs.msg import String

        from physgen_nodes.conversions import Rejected, record_of

        got: list[tuple[float, dict]] = []

        def on(msg: String) -> None:
            t = time.perf_counter()
            try:
                rec = record_of(msg, kind)
            except Rejected:
                return
            with self.cond:
                got.append((t, rec))
                self.cond.notify_all()

        return got, self.node.create_subscription(String, topic, on, depth)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        self.thread.join(timeout=10.0)
        self.node.destroy_node()
        if self.ctx.ok():
            self._rclpy.shutdown(context=self.ctx)


def stamp_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def reset_cell(bench: Bench, cell: NodeProcess, seed: int, timeout: float = 120.0) -> dict:
    """Publish cell/reset until the cell node's cell/episode answers it (a publisher is not matched at once)."""
    from std_msgs.msg import String

    from physgen_nodes.conversions import record_msg

    episodes, sub = bench.records("cell/episode", "episode")
    pub = bench.node.create_publisher(String, "cell/reset", 10)
    rid = f"bench-reset-{seed}-{time.monotonic_ns()}"
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            pub.publish(record_msg("reset", {"request_id": rid, "task": TASK, "seed": seed, "split": SPLIT}))
            if bench.wait(lambda: any(r.get("request_id") == rid for _, r in episodes), 1.0, (cell,)):
                return next(r for _, r in episodes if r.get("request_id") == rid)
        raise RuntimeError(f"{cell.label} did not answer cell/reset within {timeout:.0f} s:\n{cell.tail()}")
    finally:
        bench.node.destroy_subscription(sub)
        bench.node.destroy_publisher(pub)


def scene_frame(seed: int, width: int, height: int) -> tuple[RobotCell, object, np.ndarray]:
    """A cell showing the benchmark's scene at ``width`` x ``height``, its instance and its frame."""
    cell = RobotCell(CellConfig(scene_camera=CameraConfig(width=width, height=height)))
    inst, frame = begin(cell, load_task(TASK), seed, SPLIT)
    return cell, inst, frame


# --- 1. streaming ----------------------------------------------------------------------------------
class Stream:
    """Arrivals on camera/image_raw (perf_counter, wall ns, stamp ns), joint_states stamps and, while
    subscribed, camera/image_raw/compressed arrivals."""

    def __init__(self, bench: Bench):
        from sensor_msgs.msg import Image, JointState

        from physgen_nodes.cell_node import IMAGE_QOS

        self.bench = bench
        self.images: list[tuple[float, int, int]] = []
        self.joints: list[tuple[float, int]] = []
        self.jpegs: list[float] = []
        self.last = None
        self._subs = [bench.node.create_subscription(Image, "camera/image_raw", self._on_image, IMAGE_QOS),
                      bench.node.create_subscription(JointState, "joint_states", self._on_joints, 10)]
        self._jpeg_sub = None

    def _on_image(self, msg) -> None:
        t, wall = time.perf_counter(), time.time_ns()
        with self.bench.cond:
            self.images.append((t, wall, stamp_ns(msg.header.stamp)))
            self.last = msg
            self.bench.cond.notify_all()

    def _on_joints(self, msg) -> None:
        with self.bench.cond:
            self.joints.append((time.perf_counter(), stamp_ns(msg.header.stamp)))

    def _on_jpeg(self, msg) -> None:
        t = time.perf_counter()
        with self.bench.cond:
            self.jpegs.append(t)
            self.bench.cond.notify_all()

    def jpeg(self, on: bool) -> None:
        from sensor_msgs.msg import CompressedImage

        from physgen_nodes.cell_node import IMAGE_QOS

        if on and self._jpeg_sub is None:
            self._jpeg_sub = self.bench.node.create_subscription(CompressedImage, "camera/image_raw/compressed",
                                                                 self._on_jpeg, IMAGE_QOS)
        elif not on and self._jpeg_sub is not None:
            self.bench.node.destroy_subscription(self._jpeg_sub)
            self._jpeg_sub = None

    def close(self) -> None:
        self.jpeg(False)
        for s in self._subs:
            self.bench.node.destroy_subscription(s)


def fps_ratio(fps: list[float], base: list[float]) -> float | None:
    """The paired ratio of frame rates (the inverse paired ratio of frame times); None when a phase
    saw no frame at all (reported as not measured, never a division by zero)."""
    if not all(fps) or not all(base):
        return None
    return 1.0 / paired_ratio([1 / x for x in fps], [1 / x for x in base])


def in_process_phase(cell: RobotCell, seconds: float) -> dict:
    n, c0, t0 = 0, time.process_time(), time.perf_counter()
    while True:
        cell.render(reuse=False)  # drawn every time: the node draws every frame too (reuse_frames false)
        n += 1
        t = time.perf_counter() - t0
        if t >= seconds:
            break
    cpu = time.process_time() - c0
    return {"fps": n / t, "frames": n, "cpu_over_wall": cpu / t, "cpu_ms_per_frame": 1e3 * cpu / n}


def stream_phase(bench: Bench, stream: Stream, node: NodeProcess, budget: Budget, jpeg: bool) -> dict:
    """Resume the paused node, let it settle, count the frames arriving for phase_s, pause it again."""
    stream.jpeg(jpeg)
    node.resume()
    try:
        t_resume = time.perf_counter()
        if jpeg:  # the node encodes JPEG once it has discovered the compressed subscription
            n0 = len(stream.jpegs)
            if not bench.wait(lambda: any(t > t_resume for t in stream.jpegs[n0:]), 20.0, (node,)):
                raise RuntimeError(f"no JPEG frame from {node.label} within 20 s")
            t_resume = time.perf_counter()
        time.sleep(max(0.0, t_resume + budget.settle_s - time.perf_counter()))
        with bench.cond:
            i0, j0 = len(stream.images), len(stream.jpegs)
        cpu0, rc0, t0 = node.cpu_s(), time.process_time(), time.perf_counter()
        time.sleep(budget.phase_s)
        cpu, rcpu, t1 = node.cpu_s() - cpu0, time.process_time() - rc0, time.perf_counter()
        with bench.cond:
            window, n_jpeg = stream.images[i0:], len(stream.jpegs) - j0
        time.sleep(0.1)  # the joint_states of the window's last frame follow its image
        with bench.cond:
            joints = list(stream.joints)
        wall = t1 - t0
        if jpeg:  # let the node see the subscription go before it is paused
            stream.jpeg(False)
            time.sleep(0.3)
    finally:
        node.pause()
    node.check()
    if len(window) < 2:
        raise RuntimeError(f"{node.label}: {len(window)} frames in {budget.phase_s} s")
    first, last = window[0], window[-1]
    sent = sum(1 for _, s in joints if first[2] <= s <= last[2])  # the node's frames from the first to the last
    produced = sum(1 for t, _ in joints if t0 <= t < t1)  # the node's frames while its CPU time was measured
    return {"fps": (len(window) - 1) / (last[0] - first[0]), "frames": len(window), "sent": sent,
            "lost": sent - len(window), "jpeg_frames": n_jpeg,
            "delivery_ms": median([(w - s) / 1e6 for _, w, s in window]),
            "node_cpu_over_wall": cpu / wall, "receiver_cpu_over_wall": rcpu / wall,
            "cpu_ms_per_frame": 1e3 * cpu / max(1, produced), "receiver_cpu_ms_per_frame": 1e3 * rcpu / len(window)}


def per_frame_costs(frame: np.ndarray, n: int) -> dict:
    """Median ms of the node's and a subscriber's extra work on one frame, timed in this process."""
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from physgen_nodes.conversions import compressed_array, compressed_msg, image_array, image_msg

    header = Header(frame_id="scene_camera_optical_frame")
    msg = image_msg(frame, header)
    raw = serialize_message(msg)
    jpeg = compressed_msg(frame, header)
    cases = {"image_msg": lambda: image_msg(frame, header), "serialize": lambda: serialize_message(msg),
             "deserialize": lambda: deserialize_message(raw, Image), "image_array": lambda: image_array(msg),
             "jpeg_encode": lambda: compressed_msg(frame, header), "jpeg_decode": lambda: compressed_array(jpeg)}
    out = {}
    for name, f in cases.items():
        f()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        out[name] = 1e3 * median(times)
    out["serialized_bytes"] = len(raw)
    out["jpeg_bytes"] = len(jpeg.data)
    return out


def bench_stream_resolution(bench: Bench, nodes: Nodes, res: str, budget: Budget, seed: int) -> dict:
    from physgen_nodes.conversions import image_array

    w, h = RESOLUTIONS[res]
    progress(f"1. streaming {res}: rendering in process, starting a cell node ...")
    cell, _, frame = scene_frame(seed, w, h)
    stream = Stream(bench)
    node = nodes.start(f"cell_{res}", "cell_node", {"rate_hz": 0.0, "reuse_frames": False,
                                                   "cell.scene_camera.width": w, "cell.scene_camera.height": h})
    try:
        if not bench.wait(lambda: stream.last is not None, 120.0, (node,)):
            raise RuntimeError(f"no frame from {node.label} within 120 s:\n{node.tail()}")
        after = reset_cell(bench, node, seed)["frame_after_ns"]
        if not bench.wait(lambda: stamp_ns(stream.last.header.stamp) >= after, 30.0, (node,)):
            raise RuntimeError(f"no frame of the new scene from {node.label}")
        with bench.cond:
            streamed = image_array(stream.last)
        same = bool(np.array_equal(streamed, frame))
        node.pause()
        cell.render(reuse=False)  # warm
        results: dict = {k: [] for k in STREAM_CASES}
        for rep in range(budget.reps):
            progress(f"1. streaming {res}: repetition {rep + 1}/{budget.reps}")
            for case in STREAM_CASES if rep % 2 == 0 else STREAM_CASES[::-1]:
                if case == "in-process":
                    results[case].append(in_process_phase(cell, budget.phase_s))
                else:
                    results[case].append(stream_phase(bench, stream, node, budget, jpeg=case == "stream+jpeg"))
        rc = nodes.stop(node)
    finally:
        nodes.stop(node)
        stream.close()
        cell.close()
    fps = {k: [r["fps"] for r in v] for k, v in results.items()}
    ratio = {k: fps_ratio(fps[k], fps["in-process"]) for k in STREAM_CASES[1:]}
    cpu = {k: [r["cpu_ms_per_frame"] for r in v] for k, v in results.items()}
    out = {"resolution": res, "same_frame": same, "node_exit": rc, "reps": results,
           "fps": {k: median(v) for k, v in fps.items()}, "ratio_over_in_process": ratio,
           "transport_cost": {k: None if v is None else 1.0 - v for k, v in ratio.items()},
           "cpu_ms_per_frame": {k: median(v) for k, v in cpu.items()},
           "cpu_ratio_over_in_process": {k: paired_ratio(cpu[k], cpu["in-process"]) for k in STREAM_CASES[1:]},
           "costs_ms": per_frame_costs(frame, budget.micro)}
    out["costs_ms"]["render"] = 1e3 / out["fps"]["in-process"]
    for k in STREAM_CASES[1:]:
        for f in ("sent", "lost", "frames", "jpeg_frames"):
            out.setdefault(f, {})[k] = sum(r[f] for r in results[k])
        for f in ("delivery_ms", "node_cpu_over_wall", "receiver_cpu_over_wall", "receiver_cpu_ms_per_frame"):
            out.setdefault(f, {})[k] = median([r[f] for r in results[k]])
    out["in_process_cpu_over_wall"] = median([r["cpu_over_wall"] for r in results["in-process"]])
    return out


def bench_node_split(res: str, budget: Budget, seed: int) -> dict:
    """Where a streaming cell node's time goes: the real CellNode, in this process (its own context, no
    subscriber), frames/s and CPU ms per frame of render() in a loop, publish_frame() in a loop (render,
    messages, publish), and the node's 0-period timer spun by the SingleThreadedExecutor run_node uses
    and by a MultiThreadedExecutor, interleaved; ratios are paired, over render()."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.signals import SignalHandlerOptions

    from physgen_nodes.cell_node import CellNode

    w, h = RESOLUTIONS[res]
    progress(f"1. streaming {res}: where the node's time goes (CellNode in this process) ...")
    ctx = Context()
    rclpy.init(context=ctx, domain_id=DOMAIN_ID, signal_handler_options=SignalHandlerOptions.NO)
    node = CellNode(context=ctx, parameter_overrides=[Parameter("rate_hz", value=0.0),
                                                      Parameter("reuse_frames", value=False),
                                                      Parameter("cell.scene_camera.width", value=w),
                                                      Parameter("cell.scene_camera.height", value=h)])
    node.timer.cancel()  # each executor case gets a fresh 0-period timer like the node's
    node.cell.load(load_task(TASK).sample(seed, SPLIT).scene)

    def loop(f: Callable[[], object]) -> dict:
        n, c0, t0 = 0, time.process_time(), time.perf_counter()
        while time.perf_counter() - t0 < budget.phase_s:
            f()
            n += 1
        t, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {"fps": n / t, "cpu_ms_per_frame": 1e3 * cpu / n}

    def spin(make) -> Callable[[], dict]:
        def run() -> dict:
            ex = make()
            timer = node.create_timer(0.0, node.publish_frame)
            ex.add_node(node)
            thread = threading.Thread(target=ex.spin, daemon=True)
            f0, c0, t0 = node.counts["frames"], time.process_time(), time.perf_counter()
            thread.start()
            time.sleep(budget.phase_s)
            n, t, cpu = node.counts["frames"] - f0, time.perf_counter() - t0, time.process_time() - c0
            ex.shutdown()
            thread.join()
            node.destroy_timer(timer)
            return {"fps": n / t, "cpu_ms_per_frame": 1e3 * cpu / max(1, n)}
        return run

    cases = {"render()": lambda: loop(lambda: node.cell.render(reuse=False)),
             "publish_frame()": lambda: loop(node.publish_frame),
             "SingleThreadedExecutor": spin(lambda: SingleThreadedExecutor(context=ctx)),
             "MultiThreadedExecutor": spin(lambda: MultiThreadedExecutor(context=ctx))}
    try:
        node.publish_frame()
        out: dict = {k: [] for k in cases}
        for rep in range(budget.reps):
            for k in list(cases) if rep % 2 == 0 else list(cases)[::-1]:
                out[k].append(cases[k]())
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    base = out["render()"]
    return {k: {"fps": median([r["fps"] for r in v]), "cpu_ms_per_frame": median([r["cpu_ms_per_frame"] for r in v]),
                "fps_ratio": fps_ratio([r["fps"] for r in v], [r["fps"] for r in base]),
                "cpu_ratio": paired_ratio([r["cpu_ms_per_frame"] for r in v], [r["cpu_ms_per_frame"] for r in base])}
            for k, v in out.items()}


def bench_streaming(bench: Bench, nodes: Nodes, budget: Budget, seed: int) -> dict:
    out = {res: bench_stream_resolution(bench, nodes, res, budget, seed) for res in RESOLUTIONS}
    return {"resolutions": out, "node_split": {SPLIT_RES: bench_node_split(SPLIT_RES, budget, seed)}}


# --- 2. camera-to-answer latency -------------------------------------------------------------------
class Asker:
    """vlm/instruction out, vlm/answer in, matched by request_id."""

    def __init__(self, bench: Bench, prompt: str, seed: int):
        from std_msgs.msg import String

        from physgen_nodes.conversions import Rejected, record_of

        self.bench, self.prompt, self.seed = bench, prompt, seed
        self.answers: dict[str, tuple[float, dict]] = {}

        def on(msg: String) -> None:
            t = time.perf_counter()
            try:
                rec = record_of(msg, "answer")
            except Rejected:
                return
            with bench.cond:
                self.answers[str(rec.get("request_id"))] = (t, rec)
                bench.cond.notify_all()

        self.sub = bench.node.create_subscription(String, "vlm/answer", on, 10)
        self.pub = bench.node.create_publisher(String, "vlm/instruction", 10)

    def send(self, rid: str) -> float:
        from physgen_nodes.conversions import record_msg

        msg = record_msg("instruction", {"task": TASK, "seed": self.seed, "split": SPLIT, "prompt": self.prompt,
                                         "request_id": rid, "frame_after_ns": 0})
        t0 = time.perf_counter()
        self.pub.publish(msg)
        return t0

    def ask(self, rid: str, nodes: tuple[NodeProcess, ...], timeout: float = 120.0) -> tuple[float, dict]:
        t0 = self.send(rid)
        if not self.bench.wait(lambda: rid in self.answers, timeout, nodes):
            raise RuntimeError(f"no answer to {rid} within {timeout:.0f} s")
        t, rec = self.answers[rid]
        return t - t0, rec

    def warm_up(self, tag: str, nodes: tuple[NodeProcess, ...], timeout: float = 180.0) -> None:
        """Once the VLM node subscribes (it has loaded its policy by then), send until it answers (the first
        requests can still be lost while the match completes), wait until every request sent is answered or
        a few seconds pass (no stale work queued when timing starts), then two more untimed requests."""
        if not self.bench.wait(lambda: self.pub.get_subscription_count() > 0, timeout, nodes):
            raise RuntimeError(f"the VLM node did not subscribe to vlm/instruction within {timeout:.0f} s:\n"
                               + "\n".join(n.tail() for n in nodes))
        sent: list[str] = []
        end = time.monotonic() + timeout
        while not any(r in self.answers for r in sent):
            if time.monotonic() > end:
                raise RuntimeError(f"the VLM node did not answer within {timeout:.0f} s:\n"
                                   + "\n".join(n.tail() for n in nodes))
            sent.append(f"warm-{tag}-{len(sent)}")
            self.send(sent[-1])
            self.bench.wait(lambda: any(r in self.answers for r in sent), 5.0, nodes)
        self.bench.wait(lambda: all(r in self.answers for r in sent), 5.0, nodes)
        for i in range(2):
            self.ask(f"warm-{tag}-x{i}", nodes)

    def close(self) -> None:
        self.bench.node.destroy_subscription(self.sub)
        self.bench.node.destroy_publisher(self.pub)


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def bench_policy(bench: Bench, nodes: Nodes, asker: Asker, cell_node: NodeProcess, name: str, obs: Observation,
                 model_dir: Path, budget: Budget, seed: int, threads: int) -> dict:
    from physgen.policy.factory import make_policy

    params = {"policy": name, "seed": seed, **({"model": str(model_dir)} if name == "vlm" else {})}
    vlm = nodes.start(f"vlm_{name}", "vlm_node", params, env={"OMP_NUM_THREADS": str(threads)})
    cpu0, t0 = cell_node.cpu_s(), time.perf_counter()  # the cell node's load from here to the last request
    policy = None
    try:
        progress(f"2. latency {name}: loading the policy in process, waiting for the VLM node ...")
        policy = make_policy(name, seed, str(model_dir) if name == "vlm" else None)
        watch = (vlm, cell_node)
        asker.warm_up(name, watch)
        fmt = obs.answer_format

        def local() -> tuple[float, str]:
            t0 = time.perf_counter()
            raw = policy.act(obs)
            parse(raw, fmt)
            return time.perf_counter() - t0, raw

        for _ in range(2):
            local()
        inproc, ros, recs, texts = [], [], [], []
        progress(f"2. latency {name}: {budget.requests} requests each way, interleaved ...")
        for i in range(budget.requests):
            for side in ("in", "ros") if i % 2 == 0 else ("ros", "in"):
                if side == "in":
                    dt, raw = local()
                    inproc.append(dt)
                    texts.append(raw)
                else:
                    dt, rec = asker.ask(f"{name}-{i}", watch)
                    ros.append(dt)
                    recs.append(rec)
        cell_load = (cell_node.cpu_s() - cpu0) / (time.perf_counter() - t0)
        rc = nodes.stop(vlm)
    finally:
        nodes.stop(vlm)
        if policy is not None:
            policy.close()
    if any(r.get("reason") == "no_frame" for r in recs):
        raise RuntimeError(f"the VLM node answered no_frame for {name}")
    stages = {k: [r["latency"][k] for r in recs] for k in ("frame_age_s", "preprocess_s", "generate_s", "parse_s")}
    work = [r["latency"]["preprocess_s"] + r["latency"]["generate_s"] + r["latency"]["parse_s"] for r in recs]
    ms = lambda xs: [1e3 * x for x in xs]  # noqa: E731
    return {
        "requests": budget.requests, "node_exit": rc, "cell_node_cpu_over_wall": cell_load,
        "in_process_ms": {"median": median(ms(inproc)), "p90": percentile(ms(inproc), 90)},
        "ros_ms": {"median": median(ms(ros)), "p90": percentile(ms(ros), 90)},
        "ratio_ros_over_in_process": paired_ratio(ros, inproc),
        "stages_ms": {k: median(ms(v)) for k, v in stages.items()},
        "ros_extra_ms": {"median": median(ms([a - b for a, b in zip(ros, work)])),
                         "p90": percentile(ms([a - b for a, b in zip(ros, work)]), 90)},
        "same_answer": (sum(r["raw"] == t for r, t in zip(recs, texts)) if name == "vlm" else None),
        "in_process_texts": sorted(set(texts))[:3], "ros_texts": sorted({r["raw"] for r in recs})[:3],
        "reasons": sorted({r["reason"] for r in recs}),
    }


def bench_latency(bench: Bench, nodes: Nodes, budget: Budget, seed: int, threads: int, stream_hz: float) -> dict:
    import torch

    from physgen.models.recipes import resolve_model

    torch.set_num_threads(threads)
    progress(f"2. latency: resolving {RECIPE} (built into the model cache if missing), a cell node at "
             f"{stream_hz:g} Hz ...")
    model_dir = resolve_model(RECIPE)
    cell, inst, frame = scene_frame(seed, *RESOLUTIONS["224x224"])
    cell.close()
    cell_node = nodes.start("cell_answer", "cell_node", {"rate_hz": stream_hz})
    asker = None
    out: dict = {"model_dir": str(model_dir), "stream_hz": stream_hz, "threads": threads, "policies": {}}
    try:
        ep = reset_cell(bench, cell_node, seed)
        if ep["prompt"] != inst.prompt:
            raise RuntimeError("the cell node's prompt differs from the in-process one")
        task = load_task(TASK)
        obs = Observation(frame, inst.prompt, task.name, seed, task.answer_format, None)  # as the VLM node builds it
        asker = Asker(bench, inst.prompt, seed)
        for name in POLICIES:
            out["policies"][name] = bench_policy(bench, nodes, asker, cell_node, name, obs, model_dir, budget, seed,
                                                 threads)
        out["cell_node_exit"] = nodes.stop(cell_node)
    finally:
        if asker is not None:
            asker.close()
        nodes.stop(cell_node)
    return out


# --- 3. recording ----------------------------------------------------------------------------------
def publish_steadily(bench: Bench, frame: np.ndarray, names: list[str], positions: list[float], rate_hz: float,
                     seconds: float, recorder: NodeProcess) -> dict:
    from rclpy.duration import Duration
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Header

    from physgen_nodes.cell_node import IMAGE_QOS
    from physgen_nodes.conversions import image_msg

    pub_img = bench.node.create_publisher(Image, "camera/image_raw", IMAGE_QOS)
    pub_js = bench.node.create_publisher(JointState, "joint_states", 10)
    try:
        if not bench.wait(lambda: pub_img.get_subscription_count() > 0 and pub_js.get_subscription_count() > 0,
                          60.0, (recorder,)):
            raise RuntimeError(f"the recorder did not subscribe within 60 s:\n{recorder.tail()}")
        time.sleep(0.5)  # both ends of each match in place
        period, n = 1.0 / rate_hz, max(2, round(rate_hz * seconds))
        clock = bench.node.get_clock()
        late, starts, publish_s, stamps = [], [], [], []
        t0 = time.perf_counter() + 0.05
        for k in range(n):
            target = t0 + k * period
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            start = time.perf_counter()
            stamp = clock.now().to_msg()
            stamps.append(stamp_ns(stamp))
            pub_img.publish(image_msg(frame, Header(stamp=stamp, frame_id="scene_camera_optical_frame")))
            pub_js.publish(JointState(header=Header(stamp=stamp, frame_id=""), name=names, position=positions))
            publish_s.append(time.perf_counter() - start)
            late.append(start - target)
            starts.append(start)
        # a writer destroyed at once would take its last, unacknowledged samples with it
        acked = all(p.wait_for_all_acked(Duration(seconds=10)) for p in (pub_img, pub_js))
        return {"all_acked": acked, "published": {t: n for t in RECORDED},
                "rate_hz": (n - 1) / (starts[-1] - starts[0]),
                "target_hz": rate_hz, "late_median_ms": 1e3 * median(late), "late_max_ms": 1e3 * max(late),
                "late_over_period": sum(1 for x in late if x > period), "publish_ms": 1e3 * median(publish_s),
                "duration_s": starts[-1] - starts[0], "stamps": stamps}
    finally:
        bench.node.destroy_publisher(pub_img)
        bench.node.destroy_publisher(pub_js)


def read_back(bag: Path, frame: np.ndarray) -> dict:
    from physgen.recording.bag import bag_info, deserialize, read_bag

    info = bag_info(bag)
    counts: dict[str, int] = {}
    stamps: dict[str, set[int]] = {}
    first_image = None
    t0 = time.perf_counter()
    for topic, msgtype, _, raw in read_bag(bag):
        counts[topic] = counts.get(topic, 0) + 1
        msg = deserialize(raw, msgtype)
        stamps.setdefault(topic, set()).add(int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec))
        if first_image is None and msgtype == "sensor_msgs/msg/Image":
            first_image = msg
    read_s = time.perf_counter() - t0
    intact = first_image is not None and (first_image.width, first_image.height, first_image.encoding) == \
        (frame.shape[1], frame.shape[0], "rgb8") and bytes(first_image.data) == frame.tobytes()
    size = sum(f.stat().st_size for f in bag.rglob("*") if f.is_file())
    return {"metadata_counts": {t: v["count"] for t, v in info["topics"].items()}, "read_counts": counts,
            "first_image_intact": bool(intact), "bytes_on_disk": size, "read_s": read_s, "storage": info["storage"],
            "stamps": stamps}


def bench_recording(bench: Bench, nodes: Nodes, budget: Budget, seed: int, rate_hz: float, tmp: Path) -> dict:
    progress("3. recording: rendering a 640x480 frame, starting the recorder node ...")
    cell, _, frame = scene_frame(seed, *RESOLUTIONS["640x480"])
    names, positions = list(cell.arm.joint_names), [float(q) for q in cell.arm.joint_positions()]
    cell.close()
    bag = tmp / "bag"
    statuses, sub = bench.records("recorder/status", "recorder_status")
    rec = nodes.start("recorder", "recorder_node", {"output": str(bag), "topics": list(RECORDED)})
    try:
        progress(f"3. recording: publishing {frame.shape[1]}x{frame.shape[0]} rgb8 + joint_states at {rate_hz:g} Hz "
                 f"for {budget.seconds:g} s ...")
        pub = publish_steadily(bench, frame, names, positions, rate_hz, budget.seconds, rec)
        resolved = {t: "/" + t for t in RECORDED}

        def caught_up() -> bool:
            if not statuses:
                return False
            topics = statuses[-1][1]["topics"]
            return all(topics.get(resolved[t], {}).get("received", 0) >= pub["published"][t] for t in RECORDED)

        t_done = time.perf_counter()
        progress("3. recording: waiting for the recorder's status, stopping it (SIGINT) ...")
        # a status after a few more seconds at most tells what the recorder got (it publishes one a second)
        bench.wait(caught_up, 5.0, (rec,))
        n0 = len(statuses)
        bench.wait(lambda: len(statuses) > n0, 3.0, (rec,))  # one more status: nothing still in flight
        status = statuses[-1][1]
        wait_s = time.perf_counter() - t_done
        rc = nodes.stop(rec)
    finally:
        nodes.stop(rec)
        bench.node.destroy_subscription(sub)
    progress("3. recording: reading the bag back ...")
    back = read_back(bag, frame) if (bag / "metadata.yaml").exists() else None
    topics = {t: {**status["topics"].get(resolved[t], {}), "published": pub["published"][t]} for t in RECORDED}
    for t, v in topics.items():
        v["reported_lost"] = v.get("lost", 0)  # the recorder's own count (gaps in publication numbers)
        v["lost"] = v["published"] - v.get("received", 0)
        v["in_bag_metadata"] = None if back is None else back["metadata_counts"].get(resolved[t])
        v["in_bag_read"] = None if back is None else back["read_counts"].get(resolved[t])
        v["missing_from_bag"] = None if back is None else [  # which publications (0-based) the bag lacks
            k for k, st in enumerate(pub["stamps"]) if st not in back["stamps"].get(resolved[t], set())]
    pub = {k: v for k, v in pub.items() if k != "stamps"}
    if back is not None:
        back = {k: v for k, v in back.items() if k != "stamps"}
    return {"publish": pub, "topics": topics, "status": {k: status[k] for k in ("state", "reason", "bytes")},
            "status_wait_s": wait_s, "recorder_exit": rc, "bag": back,
            "write_mb_per_s": status["bytes"] / 2**20 / pub["duration_s"], "frame": list(frame.shape)}


# --- report ----------------------------------------------------------------------------------------
def report_streaming(streaming: dict, b: Budget) -> list[str]:
    s, cases = streaming["resolutions"], STREAM_CASES[1:]
    lines = [f"1. Streaming camera/image_raw, cell node (rate_hz 0) -> this process  (medians of {b.reps} interleaved "
             f"reps x {b.phase_s:g} s per case; ratios: medians of paired ratios)",
             "   in-process = RobotCell.render() in a loop here, the node paused; stream = the node's frames arriving "
             "here; +jpeg = also a camera/image_raw/compressed subscriber",
             f"   {'':<11}{'frames/s (wall clock)':^45}{'CPU ms per frame':^45}",
             f"   {'resolution':<11}{'in-proc':>8}{'stream':>8}{'/in':>7}{'+jpeg':>8}{'/in':>7}{'  cost':>7}"
             f"{'in-proc':>9}{'node':>8}{'/in':>7}{'+jpeg':>8}{'/in':>7}{'recv':>6}"]
    for res, x in s.items():
        f, r, c, k, kr = (x["fps"], x["ratio_over_in_process"], x["transport_cost"], x["cpu_ms_per_frame"],
                          x["cpu_ratio_over_in_process"])
        lines.append(f"   {res:<11}{f['in-process']:>8.2f}{f['stream']:>8.2f}{num(r['stream'], '.3f', 'x'):>7}"
                     f"{f['stream+jpeg']:>8.2f}{num(r['stream+jpeg'], '.3f', 'x'):>7}"
                     f"{num(c['stream'], '.1%'):>7}"
                     f"{k['in-process']:>9.1f}{k['stream']:>8.1f}"
                     f"{kr['stream']:>6.3f}x{k['stream+jpeg']:>8.1f}{kr['stream+jpeg']:>6.3f}x"
                     f"{x['receiver_cpu_ms_per_frame']['stream']:>6.2f}")
    lines += ["   cost = 1 - stream/in-proc frame rate (goal < 5%); node = the cell node process's CPU time (all "
              "threads) per frame it published; recv = this process's per frame received",
              f"   {'resolution':<11}{'frames':>10}{'sent':>10}{'lost':>7}{'delivery ms':>13}{'node cpu/wall':>15}"
              f"{'in-proc cpu/wall':>18}{'same frame':>12}    (stream / +jpeg)"]
    for res, x in s.items():
        two = lambda key, fmt, x=x: "/".join(format(x[key][k], fmt) for k in cases)  # noqa: E731
        lines.append(f"   {res:<11}{two('frames', 'd'):>10}{two('sent', 'd'):>10}{two('lost', 'd'):>7}"
                     f"{two('delivery_ms', '.1f'):>13}{two('node_cpu_over_wall', '.2f'):>15}"
                     f"{x['in_process_cpu_over_wall']:>18.2f}{'yes' if x['same_frame'] else 'NO':>12}")
    lines += ["   frames = received in all windows; sent = published by the node from the first to the last of them; "
              "delivery = stamp -> callback here",
              f"   per-frame costs of the transport, timed in this process on the same frame (ms, median of {b.micro}; "
              "% of one in-process frame):",
              f"   {'resolution':<11}{'frame':>7}{'image_msg':>14}{'serialize':>14}{'deserialize':>14}"
              f"{'image_array':>14}{'jpeg enc':>14}{'jpeg dec':>14}{'CDR/JPEG KiB':>14}"]
    for res, x in s.items():
        k = x["costs_ms"]
        cells = "".join(f"{k[n]:.2f} ({100 * k[n] / k['render']:.1f}%)".rjust(14)
                        for n in ("image_msg", "serialize", "deserialize", "image_array", "jpeg_encode", "jpeg_decode"))
        size = f"{k['serialized_bytes'] / 1024:.0f}/{k['jpeg_bytes'] / 1024:.0f}"
        lines.append(f"   {res:<11}{k['render']:>7.1f}{cells}{size:>14}")
    for res, split in streaming["node_split"].items():
        lines += [f"   where a streaming node's time goes, {res}: the real CellNode in this process, no subscriber "
                  f"(medians of {b.reps} interleaved reps x {b.phase_s:g} s; ratios paired, over render())",
                  f"   {'case':<46}{'frames/s':>9}{'/render':>9}{'CPU ms/frame':>14}{'/render':>9}"]
        labels = {"render()": "render() in a loop",
                  "publish_frame()": "publish_frame() in a loop, no executor",
                  "SingleThreadedExecutor": "timer 0 s + SingleThreadedExecutor (run_node)",
                  "MultiThreadedExecutor": "timer 0 s + MultiThreadedExecutor"}
        for k, v in split.items():
            lines.append(f"   {labels[k]:<46}{v['fps']:>9.2f}{num(v['fps_ratio'], '.3f', 'x'):>9}"
                         f"{v['cpu_ms_per_frame']:>14.1f}"
                         f"{v['cpu_ratio']:>8.3f}x")
    return lines


def report_latency(lat: dict, b: Budget) -> list[str]:
    lines = [f"2. Camera-to-answer latency, ms  (median / p90 of {b.requests} requests each way, interleaved; "
             f"cell node 224x224 at {lat['stream_hz']:g} Hz; torch threads {lat['threads']})",
             "   in-proc = policy.act + parse here on the same frame; ROS = vlm/instruction published -> vlm/answer "
             "received; stages from the answer record;",
             "   ROS extra = ROS - (preprocess + generate + parse): messaging, callbacks, thread hand-off",
             f"   {'policy':<18}{'in-proc':>17}{'ROS':>17}{'ROS/in':>9}{'ROS extra':>15}{'frame age':>10}"
             f"{'preproc':>9}{'generate':>10}{'parse':>8}{'same answer':>13}"]
    for name, p in lat["policies"].items():
        label = f"vlm {RECIPE}" if name == "vlm" else name
        same = "n/a" if p["same_answer"] is None else f"{p['same_answer']}/{p['requests']}"
        st = p["stages_ms"]
        pair = lambda d: f"{d['median']:.2f} / {d['p90']:.2f}"  # noqa: E731
        lines.append(f"   {label:<18}{pair(p['in_process_ms']):>17}{pair(p['ros_ms']):>17}"
                     f"{p['ratio_ros_over_in_process']:>8.2f}x{pair(p['ros_extra_ms']):>15}{st['frame_age_s']:>10.1f}"
                     f"{st['preprocess_s']:>9.3f}{st['generate_s']:>10.2f}{st['parse_s']:>8.3f}{same:>13}")
    for name, p in lat["policies"].items():
        lines.append(f"   {name} answers: ROS {p['ros_texts']!r}, in-process {p['in_process_texts']!r}; "
                     f"codec reasons {p['reasons']}")
    lines.append("   the cell node streaming used " + ", ".join(
        f"{p['cell_node_cpu_over_wall']:.2f} ({name})" for name, p in lat["policies"].items())
        + f" of a core (from the VLM node's start to the last request); model: {lat['model_dir']}")
    return lines


def report_recording(r: dict) -> list[str]:
    p, st, back = r["publish"], r["status"], r["bag"]
    h, w = r["frame"][:2]
    lines = [f"3. Recording: recorder node, {w}x{h} rgb8 camera/image_raw + joint_states published here at "
             f"{p['target_hz']:g} Hz for {p['duration_s']:.1f} s",
             f"   {'topic':<20}{'published':>10}{'received':>10}{'written':>9}{'dropped':>9}{'lost':>6}"
             f"{'reported':>10}{'bag (meta)':>12}{'bag (read)':>12}"]
    for t, v in r["topics"].items():
        lines.append(f"   {'/' + t:<20}{v['published']:>10}{v.get('received', 0):>10}{v.get('written', 0):>9}"
                     f"{v.get('dropped', 0):>9}{v['lost']:>6}{v['reported_lost']:>10}{v['in_bag_metadata']!s:>12}"
                     f"{v['in_bag_read']!s:>12}")
    lines.append("   dropped = received - written (recorder); lost = published - received (transport); reported = "
                 "the recorder's own lost count (gaps in publication numbers)")
    for t, v in r["topics"].items():
        if v["missing_from_bag"]:
            lines.append(f"   /{t}: the bag lacks publications {v['missing_from_bag'][:12]} (0-based, of "
                         f"{v['published']}){' ...' if len(v['missing_from_bag']) > 12 else ''}")
    lines.append(f"   publish rate {p['rate_hz']:.2f} Hz (target {p['target_hz']:g}); lateness median "
                 f"{p['late_median_ms']:.2f} ms, max {p['late_max_ms']:.1f} ms, {p['late_over_period']} ticks later "
                 f"than a period; image_msg + 2 publish calls {p['publish_ms']:.2f} ms median; all acknowledged "
                 f"before the publishers went: {'yes' if p['all_acked'] else 'NO'}")
    lines.append(f"   recorder: state {st['state']} ({st['reason'] or '-'}), {st['bytes'] / 2**20:.0f} MiB written "
                 f"({r['write_mb_per_s']:.1f} MiB/s), exit status {r['recorder_exit']}")
    if back is None:
        lines.append("   bag: NO metadata.yaml (the recorder did not close it)")
    else:
        lines.append(f"   bag: {back['storage']}, {back['bytes_on_disk'] / 2**20:.0f} MiB on disk, read back in "
                     f"{back['read_s']:.1f} s; first image {'equals' if back['first_image_intact'] else 'DIFFERS from'}"
                     " the published frame")
    return lines


def num(value: float | None, fmt: str, suffix: str = "") -> str:
    """``value`` formatted, or "n/a" for what could not be measured."""
    return "n/a" if value is None else format(value, fmt) + suffix


def summaries(res: dict) -> list[str]:
    out = ["Summary"]
    if "streaming" in res:
        s = res["streaming"]["resolutions"]
        costs = " / ".join(f"{num(x['transport_cost']['stream'], '.1%')} ({r})" for r, x in s.items())
        jpeg = " / ".join(num(x["transport_cost"]["stream+jpeg"], ".1%") for x in s.values())
        cpu = " / ".join(f"{100 * (x['cpu_ratio_over_in_process']['stream'] - 1):+.1f}%" for x in s.values())
        measured = [x["transport_cost"]["stream"] for x in s.values()]
        goal = ("not measured (a phase saw no frame)" if None in measured else
                "met" if max(measured) < 0.05 else "NOT met")
        out.append(f"   1. streaming over DDS costs {costs} of the in-process frame rate "
                   f"(goal < 5%: {goal}); with a JPEG subscriber {jpeg}; "
                   f"node CPU per frame vs in-process {cpu}")
        split = next(iter(res["streaming"]["node_split"].values()))
        out.append(f"      split ({SPLIT_RES}, CellNode in process): frame rate over render(): "
                   + ", ".join(f"{k} {num(v['fps_ratio'], '.3f', 'x')}" for k, v in list(split.items())[1:]))
    if "latency" in res:
        parts, spread = [], []
        for name, p in res["latency"]["policies"].items():
            spread.append(p["ros_ms"]["p90"] / p["ros_ms"]["median"])
            parts.append(f"{name}: {p['ros_ms']['median']:.1f} ms over ROS vs {p['in_process_ms']['median']:.2f} ms "
                         f"in process ({p['ratio_ros_over_in_process']:.1f}x, ROS extra "
                         f"{p['ros_extra_ms']['median']:.1f} ms), p90 {spread[-1]:.2f}x the median")
        out.append("   2. camera-to-answer " + "; ".join(parts)
                   + f" (goal p90 <= 1.5x the median: {'met' if max(spread) <= 1.5 else 'NOT met'})")
    if "recording" in res:
        r = res["recording"]
        got = ", ".join(f"{v.get('written', 0)}/{v['published']} {t}" for t, v in r["topics"].items())
        drops = sum(v.get("dropped", 0) for v in r["topics"].values())
        lost = sum(v["lost"] for v in r["topics"].values())
        bag = "not readable" if r["bag"] is None else "reads back " + " + ".join(
            str(v["in_bag_read"]) for v in r["topics"].values())
        out.append(f"   3. recording at {r['publish']['rate_hz']:.2f} Hz wrote {got}; {drops} dropped, {lost} lost "
                   f"in transport (goal 0: {'met' if drops == 0 and lost == 0 else 'NOT met'}); the bag {bag}")
    return out


def environment() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import rclpy

    def v(pkg: str) -> str:
        try:
            return version(pkg)
        except PackageNotFoundError:
            return "?"

    return {"python": platform.python_version(), "rclpy": v("ros-rclpy") if v("ros-rclpy") != "?" else v("rclpy"),
            "rmw": os.environ.get("RMW_IMPLEMENTATION", "default (rmw_fastrtps_cpp)"), "fastdds": v("ros-fastdds"),
            "rclpy_path": str(Path(rclpy.__file__).parent), "machine": platform.machine(), "system": platform.system(),
            "cpus": os.cpu_count(), "domain_id": DOMAIN_ID, "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)  # runs the finally blocks: nodes stopped, temporary files removed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (~1-2 min): 2 reps of 1.5 s, 8 requests, 3 s "
                                                         "recording")
    ap.add_argument("--reps", type=int, default=None, help="interleaved repetitions per streaming case (4; 2 --quick)")
    ap.add_argument("--phase-seconds", type=float, default=None, help="seconds per streaming phase (3; 1.5 --quick)")
    ap.add_argument("--requests", type=int, default=None, help="instructions per policy, each way (40; 8 --quick)")
    ap.add_argument("--seconds", type=float, default=None, help="recording duration in seconds (10; 3 --quick)")
    ap.add_argument("--rate-hz", type=float, default=30.0, help="recording publish rate per topic (default 30)")
    ap.add_argument("--stream-hz", type=float, default=10.0, help="cell node rate during part 2 (default 10, the "
                                                                 "node's default)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads, here and in the VLM node (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="scene seed (task stability) and policy seed (default 0)")
    ap.add_argument("--parts", default="1,2,3", help="which parts to run, comma-separated (default 1,2,3)")
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = ap.parse_args(argv)
    for flag in ("reps", "requests", "threads"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            ap.error(f"--{flag} {v}: expected a positive integer")
    for flag in ("phase_seconds", "seconds", "rate_hz", "stream_hz"):
        v = getattr(args, flag)
        if v is not None and not v > 0:
            ap.error(f"--{flag.replace('_', '-')} {v}: expected a positive number")
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - {"1", "2", "3"}:
        ap.error(f"--parts {args.parts!r}: expected a comma-separated subset of 1,2,3")
    budget = Budget.quick() if args.quick else Budget()
    budget = dataclasses.replace(budget, **{k: v for k, v in (("reps", args.reps), ("phase_s", args.phase_seconds),
                                                               ("requests", args.requests), ("seconds", args.seconds))
                                            if v is not None})

    offline()  # HF_HUB_OFFLINE=1 and friends, here and (inherited) in every node process
    signal.signal(signal.SIGTERM, _sigterm)
    t0 = time.perf_counter()
    results: dict = {"env": environment(), "budget": dataclasses.asdict(budget),
                     "args": {k: v for k, v in vars(args).items() if k != "json"}}
    with tempfile.TemporaryDirectory(prefix="bench-ros-") as tmpdir, c_stdout_captured():
        tmp = Path(tmpdir)
        nodes = Nodes(tmp)
        atexit.register(nodes.stop_all)
        bench = None
        try:
            bench = Bench()
            if "1" in parts:
                results["streaming"] = bench_streaming(bench, nodes, budget, args.seed)
            if "2" in parts:
                results["latency"] = bench_latency(bench, nodes, budget, args.seed, args.threads, args.stream_hz)
            if "3" in parts:
                results["recording"] = bench_recording(bench, nodes, budget, args.seed, args.rate_hz, tmp)
        finally:
            nodes.stop_all()
            if bench is not None:
                bench.close()
    results["wall_s"] = time.perf_counter() - t0

    env = results["env"]
    print(f"physgen ROS benchmark  python {env['python']}  rclpy {env['rclpy']}  Fast DDS {env['fastdds']}  "
          f"{env['system']}/{env['machine']} {env['cpus']} cpus  {env['date']}")
    print(f"every node a separate process; ROS_DOMAIN_ID {DOMAIN_ID}, ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST; "
          f"scene {TASK} seed {args.seed} ({SPLIT}); TinyRenderer")
    blocks = []
    if "streaming" in results:
        blocks.append(report_streaming(results["streaming"], budget))
    if "latency" in results:
        blocks.append(report_latency(results["latency"], budget))
    if "recording" in results:
        blocks.append(report_recording(results["recording"]))
    blocks.append(summaries(results))
    print_tables(blocks, results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
