"""The recorder node: records chosen topics to a rosbag2 bag (MCAP storage, raw CDR).

Parameters (:class:`RecorderConfig`): ``output`` (the bag directory; its parent must be writable),
``existing`` (what to do when ``output`` exists: ``next``, the default, repairs it if its writer died
and records on in the next free ``OUTPUT.part2``, ``.part3``, ..., logged at start as a warning
naming the part: a respawned recorder, a resumed run; ``refuse`` fails at start), ``topics``
(names, resolved like any topic of this node; each topic's type comes from the graph once it has a
publisher),
``max_bytes`` (0: unlimited; recording stops cleanly when the bag reaches it), ``flush_every``
(messages per MCAP chunk; a chunk is on disk once flushed, so a SIGKILL loses at most
``flush_every`` messages and :func:`physgen.recording.bag.repair` recovers the rest),
``queue_depth`` (subscription history per topic).

Once a second it publishes ``recorder/status``, a ``recorder_status`` record::

    {"schema": "recorder_status", "version": 1, "output": str, "state": "waiting"|"recording"|"stopped",
     "reason": str, "bytes": int, "received": int, "written": int, "dropped": int, "lost": int,
     "waiting_for": [topic, ...],
     "topics": {topic: {"type": str, "received": int, "written": int, "dropped": int, "lost": int}}}

``dropped`` is received - written: messages that reached the node but not the bag (a write error, or
recording stopped). ``lost`` counts the messages that never reached the node: gaps in each
publisher's publication sequence numbers after its first message recorded (a reliable publisher
whose history was overrun before the recorder took its messages, a best-effort sample that never
came; a middleware that reports no sequence numbers counts none). Each loss is logged, and the
counts go into the bag's ``metadata.yaml`` (``custom_data`` ``physgen.recorder``), so a bag says
what it misses. A bad ``output`` fails at start with a
ConfigError naming it. Recording stops, and the bag is closed readable, once its disk has less than
``RESERVE_BYTES`` free (room to finish the bag); a write error at run time (a disk filled faster by
another writer) stops it too, and the bag's flushed chunks are then recovered with ``physgen bag
repair`` once there is room again.
"""

from __future__ import annotations

import functools
import importlib
import json
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from physgen.config import ConfigError, in_range, one_of, require
from physgen.preflight import free_bytes
from physgen.recording.bag import BagError, BagWriter, repair
from physgen_nodes.conversions import record_msg
from physgen_nodes.params import declare_config
from physgen_nodes.runner import run_node

MIN_FREE_BYTES = 16 * 2**20  # refuse to start recording onto a (nearly) full disk
RESERVE_BYTES = 8 * 2**20  # stop recording with this much still free: room to close the bag readable


@dataclass(frozen=True)
class RecorderConfig:
    output: str = ""  # required: ROS parameters have no "missing" value, so empty means unset
    topics: tuple[str, ...] = ()  # required
    max_bytes: int = 0
    flush_every: int = 100
    queue_depth: int = 100
    existing: str = "next"  # output exists: next (repair a dead writer's bag, record to OUTPUT.partN), or refuse

    def __post_init__(self) -> None:
        one_of("existing", self.existing, ("refuse", "next"))
        require(bool(self.output.strip()), "output", self.output, "a bag directory path")
        require(len(self.topics) > 0, "topics", list(self.topics), "at least one topic name")
        require(len(set(self.topics)) == len(self.topics), "topics", list(self.topics), "distinct topic names")
        in_range("max_bytes", self.max_bytes, 0)
        in_range("flush_every", self.flush_every, 1)
        in_range("queue_depth", self.queue_depth, 1, 100000)


def message_class(msgtype: str):
    """``sensor_msgs/msg/Image`` -> the rclpy message class."""
    pkg, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


class RecorderNode(Node):
    def __init__(self, **kwargs):
        super().__init__("recorder", **kwargs)
        self.config = declare_config(self, RecorderConfig)
        self._lock = threading.Lock()
        given = Path(self.config.output).expanduser()
        self.bag = self._open(self._output(given))
        if self.bag.path != given:
            self.get_logger().warning(f"{given} exists: recording on in {self.bag.path}")
        self.state, self.reason = "waiting", ""
        self.waiting = {self.resolve_topic_name(t): t for t in self.config.topics}  # resolved -> as given
        self.types: dict[str, str] = {}
        self.received: dict[str, int] = {}
        self.written: dict[str, int] = {}
        self.lost: dict[str, int] = {}
        self._last_seq: dict[tuple[str, bytes], int] = {}  # (topic, publisher gid): its last publication number
        self._subs = []
        self.status_pub = self.create_publisher(String, "recorder/status", 10)
        self.discovery_timer = self.create_timer(0.1, self._discover)
        self.status_timer = self.create_timer(1.0, self.publish_status)
        self.get_logger().info(f"recording {sorted(self.waiting)} to {self.bag.path}")

    def _output(self, path: Path) -> Path:
        """``path``, or with ``existing: next`` and ``path`` taken (a recorder started again, e.g.
        respawned after a kill): every part whose writer died repaired, and the next free part."""
        if self.config.existing != "next" or not path.exists():
            return path
        parts = [path]
        while (part := path.with_name(f"{path.name}.part{len(parts) + 1}")).exists():
            parts.append(part)
        for part in parts:  # each part whose recorder was killed
            if not (part / "metadata.yaml").exists() and list(part.glob("*.mcap")):
                try:
                    repair(part)
                    self.get_logger().warning(f"{part}: its recorder died; repaired (every flushed chunk kept)")
                except BagError as e:
                    self.get_logger().error(f"{part}: could not repair ({e}); left as it is")
        return path.with_name(f"{path.name}.part{len(parts) + 1}")

    def _open(self, path: Path) -> BagWriter:
        free_bytes("output", path, MIN_FREE_BYTES)
        try:
            return BagWriter(path, flush_every=self.config.flush_every).open()
        except BagError as e:
            raise ConfigError("output", str(path), f"a new, writable bag directory ({e})") from None

    # -- discovery -------------------------------------------------------------------------------
    def _discover(self) -> None:
        if not self.waiting or self.state == "stopped":
            self.discovery_timer.cancel()
            return
        graph = dict(self.get_topic_names_and_types())
        for topic in sorted(self.waiting):
            types = graph.get(topic, [])
            if not types or not self.get_publishers_info_by_topic(topic):
                continue
            if len(types) > 1:
                self.get_logger().warning(f"{topic} has several types {types}; recording {types[0]}")
            self._start(topic, types[0])

    def _qos(self, topic: str) -> QoSProfile:
        """Match the publishers, as rosbag2 does: best effort if any offers only that, transient
        local when all offer it."""
        offered = [p.qos_profile for p in self.get_publishers_info_by_topic(topic)]
        best_effort = any(q.reliability == ReliabilityPolicy.BEST_EFFORT for q in offered)
        latched = bool(offered) and all(q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in offered)
        return QoSProfile(depth=self.config.queue_depth,
                          reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)

    def _start(self, topic: str, msgtype: str) -> None:
        with self._lock:
            if self.state == "stopped":
                return
            try:
                cls = message_class(msgtype)
                self.bag.add_topic(topic, msgtype)
            except (BagError, ImportError, AttributeError, ValueError) as e:
                self.get_logger().error(f"cannot record {topic} ({msgtype}): {e}")
                return
            del self.waiting[topic]
            self.types[topic] = msgtype
            self.received[topic] = self.written[topic] = self.lost[topic] = 0
        self._subs.append(self.create_subscription(cls, topic, functools.partial(self._on_message, topic),
                                                   self._qos(topic), raw=True))
        if self.state == "waiting":
            self.state = "recording"
        self.get_logger().info(f"recording {topic} ({msgtype})")

    # -- recording -------------------------------------------------------------------------------
    def _on_message(self, topic: str, raw: bytes, info: dict) -> None:
        stamp = self.get_clock().now().nanoseconds
        with self._lock:
            self.received[topic] += 1
            self._count_gap(topic, info)
            if self.state == "stopped":
                return
            try:
                self.bag.write(topic, stamp, raw)
            except OSError as e:  # a full disk, an I/O error
                self._stop(f"write failed: {e}")
                return
            self.written[topic] += 1
            if self.config.max_bytes and self.bag.bytes_written >= self.config.max_bytes:
                self._stop(f"max_bytes={self.config.max_bytes} reached")
            elif (free := shutil.disk_usage(self.bag.path).free) < RESERVE_BYTES:
                self._stop(f"disk nearly full: {free / 2**20:.1f} MiB free, kept to close the bag")

    def _count_gap(self, topic: str, info: dict) -> None:
        """Messages of this message's publisher that never came, since its previous one (lock held)."""
        seq, gid = info.get("publication_sequence_number"), info.get("publisher_gid") or {}
        if seq is None or "data" not in gid:
            return
        key = (topic, bytes(gid["data"]))
        last = self._last_seq.get(key)
        self._last_seq[key] = max(seq, last or 0)
        if last is not None and seq > last + 1:
            self.lost[topic] += seq - last - 1
            self.get_logger().warning(f"{topic}: {seq - last - 1} message(s) lost before they reached the recorder "
                                      f"({self.lost[topic]} so far)")

    def _stop(self, reason: str) -> None:
        """Stop recording and close the bag (called with the lock held)."""
        if self.state == "stopped":
            return
        self.state, self.reason = "stopped", reason
        log = self.get_logger().warning if reason.startswith(("write failed", "disk")) else self.get_logger().info
        log(f"recording stopped: {reason}")
        try:
            self.bag.custom_data("physgen.recorder", json.dumps(self._counts(), sort_keys=True))
            self.bag.close()
        except OSError as e:
            self.bag.abort()
            self.get_logger().error(f"could not finish bag {self.bag.path} ({e}); every flushed chunk "
                                    "is on disk: recover it with physgen.recording.bag.repair")

    # -- status ----------------------------------------------------------------------------------
    def _counts(self) -> dict:
        """Per topic: type, received, written, dropped, lost (called with the lock held)."""
        return {t: {"type": self.types[t], "received": self.received[t], "written": self.written[t],
                    "dropped": self.received[t] - self.written[t], "lost": self.lost[t]} for t in self.types}

    def status(self) -> dict:
        with self._lock:
            topics = self._counts()
            bytes_written = self.bag.bytes_written
        totals = {k: sum(v[k] for v in topics.values()) for k in ("received", "written", "dropped", "lost")}
        return {"output": str(self.bag.path), "state": self.state, "reason": self.reason,
                "bytes": bytes_written, **totals, "waiting_for": sorted(self.waiting), "topics": topics}

    def publish_status(self) -> None:
        self.status_pub.publish(record_msg("recorder_status", self.status()))

    def close(self) -> None:
        """Finish the bag (summary and metadata.yaml); recording stops. Idempotent."""
        with self._lock:
            if self.state != "stopped":
                self._stop("closed")

    def destroy_node(self) -> None:
        if getattr(self, "bag", None) is not None:  # absent when a bad parameter stopped __init__
            self.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(RecorderNode, args)


if __name__ == "__main__":
    main()
