"""Safety over the graph: e-stop reaction and watchdog hold latency, in control periods.

The executor node runs as a process of its own (`physgen node executor_node`), in this run's own ROS
domain with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (bench_ros.py's node processes). This process
holds one rclpy node that plays the arm: it publishes joint_states at --joint-hz, receives the
trajectories on arm_controller/ and gripper_controller/joint_trajectory and never reports a motion
done, so the executor is always mid-move when the fault comes.

1. e-stop: a pick command; once its first trajectory arrives, std_msgs/Bool true on estop (latched
   QoS) at t0; the hold trajectory (one point, at the measured joints) arrives at t1. reaction =
   t1 - t0, in control periods (control_period_s). Then the e-stop is released and the next
   repetition starts. Side by side in the same run: the one-way delivery of a trajectory message
   from the executor to this process (its header stamp -> arrival; same host clock).
2. watchdog: joint_states_timeout_s = --timeout; mid-move, the joint states stop at t0; the hold
   arrives at t1. hold latency = t1 - t0 - timeout (how late after the timeout the arm is held), in
   control periods.

Medians and maxima over --reps repetitions. Usage: python benchmarks/bench_safety.py [--reps 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import bench_ros  # noqa: E402 - the node processes and this process's ROS side
from bench_cell import progress
from bench_ros import DOMAIN_ID, Bench, Nodes

PICK = {"type": "pick", "position": [0.55, 0.0, 0.02], "yaw": 0.0}


class Arm:
    """The stand-in arm in the benchmark process: joint states out, trajectories in, arrival times kept."""

    def __init__(self, bench: Bench, hz: float):
        from rclpy.time import Time
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Bool, Header, String
        from trajectory_msgs.msg import JointTrajectory

        from physgen.cell.kinematics import ArmModel
        from physgen_nodes.conversions import record_msg
        from physgen_nodes.executor_node import ESTOP_QOS

        self.bench, self.Bool, self.record_msg = bench, Bool, record_msg
        model = ArmModel()
        self.names = [*model.arm_joints, *model.finger_joints]
        self.q = [*model.rest_pose, 0.04, 0.04]
        self.trajectories: list[tuple[float, int, float]] = []  # (arrival perf_counter, points, delivery s)
        node = bench.node
        self.states = node.create_publisher(JointState, "joint_states", 10)
        self.command = node.create_publisher(String, "executor/command", 10)
        self.estop = node.create_publisher(Bool, "estop", ESTOP_QOS)
        for topic in ("arm_controller/joint_trajectory", "gripper_controller/joint_trajectory"):
            node.create_subscription(JointTrajectory, topic, self._on_trajectory, 10)
        self.publishing = threading.Event()
        self.publishing.set()
        self._stop = threading.Event()

        def stream() -> None:
            while not self._stop.is_set():
                if self.publishing.is_set():
                    self.states.publish(JointState(header=Header(stamp=Time(nanoseconds=time.time_ns()).to_msg()),
                                                   name=self.names, position=self.q))
                time.sleep(1.0 / hz)

        self.thread = threading.Thread(target=stream, daemon=True)
        self.thread.start()

    def _on_trajectory(self, msg) -> None:
        t, wall = time.perf_counter(), time.time_ns()
        with self.bench.cond:
            self.trajectories.append((t, len(msg.points), (wall - bench_ros.stamp_ns(msg.header.stamp)) / 1e9))
            self.bench.cond.notify_all()

    def send(self, request_id: str) -> None:
        self.command.publish(self.record_msg("command", {"request_id": request_id, "motions": [PICK]}))

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)


def measure(reps: int, period: float, timeout: float, hz: float) -> dict:
    logdir = Path(tempfile.mkdtemp(prefix="bench_safety_"))
    nodes, bench = Nodes(logdir), Bench()
    try:
        ex = nodes.start("executor", "executor_node", {"control_period_s": period, "motion_timeout_s": 30.0,
                                                         "joint_states_timeout_s": timeout})
        arm = Arm(bench, hz)
        assert bench.wait(lambda: arm.command.get_subscription_count() > 0, 60, (ex,)), "no executor"
        reaction, delivery, hold = [], [], []
        for i in range(reps):  # e-stop
            n = len(arm.trajectories)
            arm.send(f"estop{i}")
            assert bench.wait(lambda n=n: len(arm.trajectories) > n, 30, (ex,)), "no trajectory"
            delivery.append(arm.trajectories[n][2])
            m = len(arm.trajectories)
            t0 = time.perf_counter()
            arm.estop.publish(arm.Bool(data=True))
            assert bench.wait(lambda m=m: len(arm.trajectories) > m, 30, (ex,)), "no hold after the e-stop"
            t1, points, _ = arm.trajectories[m]
            assert points == 1
            reaction.append(t1 - t0)
            arm.estop.publish(arm.Bool(data=False))
            time.sleep(0.3)
        for i in range(reps):  # watchdog
            arm.publishing.set()
            time.sleep(3 / hz)
            n = len(arm.trajectories)
            arm.send(f"watchdog{i}")
            assert bench.wait(lambda n=n: len(arm.trajectories) > n, 30, (ex,)), "no trajectory"
            m = len(arm.trajectories)
            arm.publishing.clear()
            t0 = time.perf_counter()
            assert bench.wait(lambda m=m: len(arm.trajectories) > m, 30, (ex,)), "no hold from the watchdog"
            hold.append(arm.trajectories[m][0] - t0 - timeout)
            time.sleep(0.3)
        arm.publishing.set()
        arm.close()
        return {"reaction": reaction, "delivery": delivery, "hold": hold}
    finally:
        nodes.stop_all()
        bench.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--period", type=float, default=4 / 240, help="the executor's control_period_s")
    p.add_argument("--timeout", type=float, default=0.2, help="the joint-state watchdog's timeout (s)")
    p.add_argument("--joint-hz", type=float, default=50.0, help="joint_states rate of the stand-in arm")
    args = p.parse_args(argv)
    print(f"executor node in its own process; ROS_DOMAIN_ID {DOMAIN_ID}, LOCALHOST; control period "
          f"{args.period * 1e3:.1f} ms, {args.reps} repetitions", flush=True)
    r = measure(args.reps, args.period, args.timeout, args.joint_hz)

    def row(name: str, xs: list[float], what: str) -> str:
        med, top = statistics.median(xs), max(xs)
        within = sum(x <= args.period for x in xs)
        return (f"{name:<28} median {med * 1e3:7.2f} ms = {med / args.period:5.2f} periods   "
                f"max {top * 1e3:7.2f} ms = {top / args.period:5.2f} periods   within one period "
                f"{within}/{len(xs)}   ({what})")

    print(row("e-stop -> hold", r["reaction"], "estop published -> hold trajectory received"))
    print(row("trajectory delivery", r["delivery"], "executor stamp -> received, same run"))
    print(f"{'e-stop / delivery':<28} median ratio "
          f"{statistics.median(r['reaction']) / statistics.median(r['delivery']):.2f}")
    print(row("watchdog hold, past timeout", r["hold"], f"last joint state + {args.timeout} s -> hold received"))
    return 0


if __name__ == "__main__":
    progress("bench_safety")
    sys.exit(main())
