"""The cell node: owns a robot cell and streams it.

Publishes ``camera/image_raw`` (rgb8; reliable, depth 1), ``camera/image_raw/compressed`` (JPEG),
``camera/camera_info`` and ``joint_states``.

Records (JSON in ``std_msgs/String``, see :mod:`physgen_nodes.conversions`):

- ``cell/reset`` ``{"request_id", "task", "seed", "split"}`` (and ``"frame": false`` when nobody will
  look at the scene: it is built without visual meshes, the same physics, and no frame of it is drawn
  or published) in: builds that scene; ``cell/episode``
  out: ``{"request_id", "task", "seed", "split", "prompt", "variant", "physics", "cell", "frame_after_ns"}``
  (every frame stamped at or after ``frame_after_ns`` shows the new scene).
- ``trajectory_msgs/JointTrajectory`` on ``arm_controller/joint_trajectory`` and
  ``gripper_controller/joint_trajectory`` (the topics of ros2_controllers' JointTrajectoryController),
  executed deterministically in simulated time; ``cell/motion`` out: ``{"trajectory_stamp_ns", "ok",
  "reason", "errors", "joints", "stamp_ns", "sim_time"}`` with the joints measured at the end.
- ``cell/judge`` ``{"request_id", "task", "seed", "split", "raw"}`` in, once the arm is done: lets go,
  settles and judges the answer ``raw`` (:func:`physgen.evaluation.episode.conclude`); ``cell/outcome``
  out: ``{"request_id", "ok", "reason", "success", "reward", "oracle_best", "settle", "judgement",
  "physics", "frame_after_ns"}`` (``settle`` holds the displacements and whether the blocks stood;
  frames stamped at or after ``frame_after_ns`` show the settled scene).

Parameters: ``cell.*`` (:class:`physgen.cell.config.CellConfig`), ``rate_hz`` (0: as fast as the
renderer allows), ``stream`` (false: a frame of each new scene only, the one the policy sees, and none
while the arm moves or the scene settles: for a graph nobody watches), ``frame_id``, ``compressed``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from std_msgs.msg import Header, String
from trajectory_msgs.msg import JointTrajectory

from physgen.cell.cell import RobotCell
from physgen.cell.config import CellConfig
from physgen.config import ConfigError, in_range, to_dict
from physgen.evaluation.episode import conclude, decide
from physgen.motion.trajectory import FINGERS, Trajectory, check, follow, follow_steps, from_duration
from physgen.tasks import load_task
from physgen.tasks.oracle import Oracles
from physgen_nodes.conversions import Rejected, camera_info, compressed_msg, image_msg, record_msg, record_of
from physgen_nodes.params import declare_config
from physgen_nodes.runner import publish_matched, run_node

IMAGE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)


@dataclass(frozen=True)
class StreamConfig:
    rate_hz: float = 10.0
    stream: bool = True  # false: only the frame of each new scene (nobody watches the arm move)
    frame_id: str = "scene_camera_optical_frame"
    compressed: bool = True
    realtime: bool = False  # stand-in hardware: trajectories at wall-clock pace, a newer one replacing the running one
    reuse_frames: bool = True  # an unchanged scene's frame is not drawn again (false: every frame, as benchmarks time)

    def __post_init__(self) -> None:
        in_range("rate_hz", self.rate_hz, 0.0, 1000.0)


class CellNode(Node):
    def __init__(self, **kwargs):
        super().__init__("cell", **kwargs)
        self.stream = declare_config(self, StreamConfig)
        self.cell = RobotCell(declare_config(self, CellConfig, "cell."))
        self.cell_record = to_dict(self.cell.config)  # sent with every episode: what decides its frames
        self.oracles = Oracles(self.cell.config.physics)
        self.current = None  # (task, instance) of the scene in the cell
        self.closed = False
        self._lock = threading.Lock()  # the cell is not thread-safe; one user at a time
        self.counts = {"frames": 0, "resets": 0, "rejected": 0, "trajectories": 0, "rejected_trajectories": 0,
                       "judged": 0, "rejected_judge": 0}
        self.image_pub = self.create_publisher(Image, "camera/image_raw", IMAGE_QOS)
        self.compressed_pub = self.create_publisher(CompressedImage, "camera/image_raw/compressed", IMAGE_QOS)
        self.info_pub = self.create_publisher(CameraInfo, "camera/camera_info", IMAGE_QOS)
        self.joint_pub = self.create_publisher(JointState, "joint_states", 10)
        self.episode_pub = self.create_publisher(String, "cell/episode", 10)
        self.create_subscription(String, "cell/reset", self._on_reset, 10)
        self.motion_pub = self.create_publisher(String, "cell/motion", 10)
        self.outcome_pub = self.create_publisher(String, "cell/outcome", 10)
        self.create_subscription(String, "cell/judge", self._on_judge, 10)
        for topic in ("arm_controller/joint_trajectory", "gripper_controller/joint_trajectory"):
            self.create_subscription(JointTrajectory, topic, self._on_trajectory, 10)
        period = 1.0 / self.stream.rate_hz if self.stream.rate_hz > 0 else 0.0
        self.timer = self.create_timer(period, self._stream)
        self._next: tuple[JointTrajectory, Trajectory] | None = None  # realtime: the trajectory to run next
        self._wake = threading.Condition()
        if self.stream.realtime:
            self._driver = threading.Thread(target=self._drive, name="cell-realtime", daemon=True)
            self._driver.start()

    def _joints(self) -> tuple[list[str], list[float]]:
        arm = self.cell.arm
        return (list(arm.joint_names), [float(q) for q in arm.joint_positions()]) if arm else ([], [])

    def _stream(self) -> None:
        if self.stream.stream:
            self.publish_frame()

    def publish_frame(self) -> None:
        """The camera frame with its camera_info (unless the scene was built for nobody to see) and the
        joint states, all stamped alike."""
        with self._lock:  # stamped under the lock: a frame never predates the scene it shows
            if self.closed:
                return
            rgb = self.cell.render(self.stream.reuse_frames) if self.cell.visual else None
            names, joints = self._joints()
            header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.stream.frame_id)
        try:
            if rgb is not None:
                self.image_pub.publish(image_msg(rgb, header))
                if self.stream.compressed and self.compressed_pub.get_subscription_count() > 0:  # JPEG for a reader
                    self.compressed_pub.publish(compressed_msg(rgb, header))
                self.info_pub.publish(camera_info(self.cell.scene_camera.intrinsics, header))
            self.joint_pub.publish(JointState(header=Header(stamp=header.stamp, frame_id=""), name=names,
                                              position=joints))
        except RuntimeError:  # rclpy's RCLError; on Ctrl-C the context goes before this timer stops
            if self.context.ok():
                raise
            return
        self.counts["frames"] += rgb is not None

    def _on_reset(self, msg: String) -> None:
        try:
            req = record_of(msg, "reset")
            task = load_task(str(req["task"]))
            seed, split = int(req["seed"]), str(req.get("split", "train"))
            visual = bool(req.get("frame", True))
            inst = task.sample(seed, split)
        except (Rejected, KeyError, ValueError, TypeError, ConfigError) as e:
            self.counts["rejected"] += 1
            self.get_logger().warning(f"reset rejected ({self.counts['rejected']} so far): {e}")
            return
        with self._lock:
            self.cell.load(inst.scene, visual)
            self.current = (task, inst)
            frame_after = self.get_clock().now().nanoseconds
        self.counts["resets"] += 1
        publish_matched(self.episode_pub, record_msg("episode", {
            "request_id": req.get("request_id"), "task": inst.task, "seed": inst.seed, "split": inst.split,
            "prompt": inst.prompt, "variant": inst.variant, "physics": self.cell.physics_record(),
            "cell": self.cell_record, "frame_after_ns": frame_after}))
        self.publish_frame()  # the new scene at once, whatever the stream rate

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        traj = Trajectory(tuple(msg.joint_names),
                          tuple(from_duration(p.time_from_start.sec, p.time_from_start.nanosec) for p in msg.points),
                          tuple(tuple(float(v) for v in p.positions) for p in msg.points))
        if self.stream.realtime:  # the driver thread runs it, replacing whatever runs now
            with self._wake:
                self._next = (msg, traj)
                self._wake.notify_all()
            return
        with self._lock:
            reason = check(traj, self.cell)
            errors = {} if reason else follow(self.cell, traj)
        self._report(msg, reason, errors)

    def _report(self, msg: JointTrajectory, reason: str, errors: dict) -> None:
        with self._lock:
            names, joints = self._joints()
            stamp = self.get_clock().now().nanoseconds
        if reason and reason not in ("preempted", "stopped"):
            self.counts["rejected_trajectories"] += 1
            self.get_logger().warning(f"trajectory rejected: {reason}")
        else:
            self.counts["trajectories"] += 1
        publish_matched(self.motion_pub, record_msg("motion", {
            "trajectory_stamp_ns": Time.from_msg(msg.header.stamp).nanoseconds, "ok": not reason,
            "reason": reason, "errors": errors, "joints": dict(zip(names, joints)), "stamp_ns": stamp,
            "sim_time": self.cell.sim_time}))

    def _drive(self) -> None:
        """Realtime mode: run each trajectory one control period at a time at wall-clock pace, the
        cell free between periods (frames and joint states stream); a newer trajectory preempts."""
        while not self.closed:
            with self._wake:
                self._wake.wait_for(lambda: self._next is not None or self.closed, timeout=0.5)
                if self._next is None:
                    continue
                msg, traj = self._next
                self._next = None
            with self._lock:
                reason = check(traj, self.cell)
                steps = None if reason else follow_steps(self.cell, traj)
            errors, start, elapsed = {}, time.monotonic(), 0.0
            while steps is not None:
                time.sleep(max(0.0, start + elapsed - time.monotonic()))  # this period's start
                if self._next is not None:  # checked at every period's start: a hold waits for no step of this
                    reason = "preempted"
                    if set(traj.joint_names) & set(FINGERS):  # fingers on a pinned block hold it, as at the end
                        with self._lock:
                            self.cell.hand_over()
                    break
                with self._lock:
                    if self.closed:
                        reason = "stopped"  # the node is going down
                        break
                    try:
                        elapsed += next(steps)
                    except StopIteration as done:
                        errors = done.value
                        break
                    names, joints = self._joints()
                    stamp = self.get_clock().now().to_msg()
                # joint states every control period, as a ros2_control joint_state_broadcaster streams them
                try:
                    self.joint_pub.publish(JointState(header=Header(stamp=stamp), name=names, position=joints))
                except RuntimeError:  # rclpy's RCLError: the context went down (Ctrl-C) under this thread
                    if self.context.ok():
                        raise
                    reason = "stopped"
                    break
            self._report(msg, reason, errors)

    def _on_judge(self, msg: String) -> None:
        try:
            req = record_of(msg, "judge")
            key = (str(req["task"]), int(req["seed"]), str(req.get("split", "train")))
            raw = str(req["raw"])
        except (Rejected, KeyError, ValueError, TypeError) as e:
            self.counts["rejected_judge"] += 1
            self.get_logger().warning(f"judge request rejected: {e}")
            return
        base = {"request_id": req.get("request_id")}
        with self._lock:
            current = self.current
            if current is None or (current[1].task, current[1].seed, current[1].split) != key:
                outcome, reason = None, "not_the_current_scene"
            else:
                task, inst = current
                parsed, plan = decide(task, inst, raw)
                outcome, reason = conclude(self.cell, task, inst, parsed, plan, self.oracles), ""
                self.current = None  # judged once; a second request must reset first
            settled = self.get_clock().now().nanoseconds  # frames from here on show the settled scene
        if outcome is None:
            self.counts["rejected_judge"] += 1
            self.get_logger().warning(f"judge request for {key} rejected: {reason}")
            publish_matched(self.outcome_pub, record_msg("outcome", {**base, "ok": False, "reason": reason}))
            return
        self.counts["judged"] += 1
        publish_matched(self.outcome_pub,
                        record_msg("outcome", {**base, "ok": True, "reason": "", **outcome.to_dict(),
                                               "frame_after_ns": settled}))

    def destroy_node(self) -> None:
        cell = getattr(self, "cell", None)  # absent when a bad parameter stopped __init__
        if cell is not None:
            with self._lock:  # never while a callback on another thread uses the cell
                self.closed = True
            if getattr(self, "_driver", None) is not None:  # realtime: its last report goes out first
                with self._wake:
                    self._wake.notify_all()
                self._driver.join(timeout=10.0)
            with self._lock:
                cell.close()
        if getattr(self, "oracles", None) is not None:
            self.oracles.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(CellNode, args)


if __name__ == "__main__":
    main()
