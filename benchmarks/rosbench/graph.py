"""Node processes in this run's own ROS domain and this process's ROS side: what every part uses."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_cell import progress

from physgen.cell.cell import RobotCell
from physgen.cell.config import CameraConfig, CellConfig
from physgen.evaluation.episode import begin
from physgen.tasks import load_task

# DDS stays on this host, in a domain of its own picked per run. Set before rclpy is imported (only inside
# the functions below) and passed to every node process this run starts.
assert "rclpy" not in sys.modules, "bench_ros must set the ROS environment before rclpy is imported"
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(101, 230))
DOMAIN_ID = int(os.environ["ROS_DOMAIN_ID"])

ROOT = Path(__file__).resolve().parents[2]  # the repository
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


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def num(value: float | None, fmt: str, suffix: str = "") -> str:
    """``value`` formatted, or "n/a" for what could not be measured."""
    return "n/a" if value is None else format(value, fmt) + suffix
