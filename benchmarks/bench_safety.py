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
3. motion stop (--stops repetitions): the arm is the cell node as stand-in hardware (realtime: its
   own process, trajectories at wall-clock pace, joint states every control period), driven by a
   second executor process (done_by joint_states); its camera runs at 1 Hz, since a frame holds the
   interpreter ~70 ms and would stall the arm. A pick starts, to and fro across the table; once the
   arm has moved for a random 0.05-0.4 s, the e-stop at t0. Speeds are the fastest joint's between
   two joint states. slowing: the first joint state after t0 at half the speed before t0; still: the
   first of 3 joint states with every joint under 0.05 rad/s; both as arrival - t0, in control
   periods, beside the hold delivery of part 1. Also how far the tool went on after t0 (FK). The
   stand-in arm decelerates as its PD position control does; a real arm as its controller does.

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
import numpy as np
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

        from physgen.motion.kinematics import ArmModel
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


STILL = 0.05  # rad/s: a joint slower than this is still


class Joints:
    """The stand-in arm's joint states as they arrive: (arrival perf_counter, stamp s, arm positions)."""

    def __init__(self, bench: Bench, arm_joints: tuple[str, ...], gap: float):
        from rclpy.time import Time
        from sensor_msgs.msg import JointState

        self.bench, self.arm_joints, self.states = bench, arm_joints, []

        def on_state(msg) -> None:
            q = dict(zip(msg.name, msg.position))
            stamp = Time.from_msg(msg.header.stamp).nanoseconds / 1e9
            # the camera's joint states come between the control period's: too close for a speed
            if all(n in q for n in arm_joints) and (not self.states or stamp - self.states[-1][1] >= gap):
                with bench.cond:
                    self.states.append((time.perf_counter(), stamp, [q[n] for n in arm_joints]))
                    bench.cond.notify_all()
        bench.node.create_subscription(JointState, "joint_states", on_state, 100)

    def still_since(self, t0: float, run: int = 3) -> int | None:
        """The first state arrived after ``t0`` from which on every joint is still, once ``run`` such
        states have arrived; else None."""
        after = [j for j in range(1, len(self.states)) if self.states[j][0] >= t0]
        first = None
        for j in after:
            first = (first or j) if self.speed(j) <= STILL else None
        return first if first is not None and len(self.states) - first >= run else None

    def speed(self, i: int) -> float:
        """The fastest joint's speed (rad/s) between states i-1 and i."""
        (_, t0, a), (_, t1, b) = self.states[i - 1], self.states[i]
        return max(abs(x - y) for x, y in zip(a, b)) / max(t1 - t0, 1e-9)


def measure_stops(reps: int, period: float, seed: int) -> dict:
    """Part 3: e-stop to the stand-in arm standing still."""
    import random

    from physgen.motion.kinematics import ArmModel
    from physgen.motion.planner import kinematics
    from physgen_nodes.conversions import record_msg

    rng = random.Random(seed)
    kin = kinematics(ArmModel())
    logdir = Path(tempfile.mkdtemp(prefix="bench_safety_stop_"))
    nodes, bench = Nodes(logdir), Bench()
    try:
        cell = nodes.start("cell", "cell_node", {"realtime": True, "rate_hz": 1.0})
        ex = nodes.start("executor", "executor_node", {"control_period_s": period, "motion_timeout_s": 30.0,
                                                         "done_by": "joint_states"})
        from std_msgs.msg import Bool, String

        from physgen_nodes.executor_node import ESTOP_QOS
        command = bench.node.create_publisher(String, "executor/command", 10)
        estop = bench.node.create_publisher(Bool, "estop", ESTOP_QOS)
        joints = Joints(bench, kin.model.arm_joints, period / 2)
        results, _sub = bench.records("executor/result", "result")
        assert bench.wait(lambda: command.get_subscription_count() > 0 and len(joints.states) > 2, 60, (cell, ex)), \
            "no executor or no joint states"
        out = {"slowing": [], "still": [], "speed": [], "travel": []}
        for i in range(reps):
            n = len(joints.states)
            target = {**PICK, "position": [0.5, 0.2 if i % 2 else -0.2, 0.02]}  # to and fro: every rep a long move
            command.publish(record_msg("command", {"request_id": f"stop{i}", "motions": [target]}))
            assert bench.wait(lambda n=n: len(joints.states) > n + 1 and joints.speed(len(joints.states) - 1) > STILL,
                              30, (cell, ex)), f"the arm did not move: {results[-2:]}"
            time.sleep(rng.uniform(0.05, 0.4))
            with bench.cond:
                k = len(joints.states) - 1
                v0, q0 = joints.speed(k), joints.states[k][2]
            t0 = time.perf_counter()
            estop.publish(Bool(data=True))
            assert bench.wait(lambda t0=t0: joints.still_since(t0) is not None, 30, (cell, ex)), "the arm did not stop"
            with bench.cond:
                after = [j for j in range(k + 1, len(joints.states)) if joints.states[j][0] >= t0]
                slowing = next(j for j in after if joints.speed(j) <= v0 / 2)
                out["slowing"].append(joints.states[slowing][0] - t0)
                out["still"].append(joints.states[joints.still_since(t0)][0] - t0)
                travel = max(np.linalg.norm(np.subtract(kin.fk(joints.states[j][2])[0], kin.fk(q0)[0])) for j in after)
            out["speed"].append(v0)
            out["travel"].append(float(travel))
            estop.publish(Bool(data=False))
            time.sleep(0.5)
            progress(f"stop {i + 1}/{reps}: slowing after {out['slowing'][-1] * 1e3:.1f} ms, still after "
                     f"{out['still'][-1] * 1e3:.1f} ms, fastest joint {v0:.2f} rad/s, tool {travel * 1e3:.1f} mm on")
        return out
    finally:
        nodes.stop_all()
        bench.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--period", type=float, default=4 / 240, help="the executor's control_period_s")
    p.add_argument("--timeout", type=float, default=0.2, help="the joint-state watchdog's timeout (s)")
    p.add_argument("--joint-hz", type=float, default=50.0, help="joint_states rate of the stand-in arm")
    p.add_argument("--stops", type=int, default=20, help="repetitions of part 3, the motion stop (0: skip)")
    p.add_argument("--seed", type=int, default=0, help="part 3: when in the motion the e-stop comes")
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
    if args.stops:
        s = measure_stops(args.stops, args.period, args.seed)
        print(row("e-stop -> arm slowing", s["slowing"], "estop published -> a joint state at half the speed"))
        print(row("e-stop -> arm still", s["still"], f"estop published -> every joint under {STILL} rad/s"))
        print(f"{'arm slowing / hold':<28} median ratio "
              f"{statistics.median(s['slowing']) / statistics.median(r['reaction']):.1f}   fastest joint at the "
              f"e-stop median {statistics.median(s['speed']):.2f} rad/s, max {max(s['speed']):.2f}; the tool went on "
              f"median {statistics.median(s['travel']) * 1e3:.1f} mm, max {max(s['travel']) * 1e3:.1f} mm")
    return 0


if __name__ == "__main__":
    progress("bench_safety")
    sys.exit(main())
