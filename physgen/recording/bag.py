"""rosbag2 bags in MCAP storage, ROS-free (the pip package ``rosbags``; ``mcap`` for repair).

:class:`BagWriter` stores raw CDR bytes exactly as received, one MCAP chunk per ``flush_every``
messages (each flushed to the OS, so a SIGKILL loses at most the open chunk), and writes a
``metadata.yaml`` on close that ``ros2 bag info``, Foxglove and the ``mcap`` tools read.
:func:`read_bag` yields ``(topic, msgtype, timestamp_ns, raw_cdr)``; :func:`deserialize` turns raw
CDR into a message object through a rosbags typestore. :func:`repair` recovers a bag whose writer was
killed: every message in a complete chunk comes back, in a rewritten MCAP file with a summary and a
correct ``metadata.yaml``.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.rosbag2.errors import WriterError
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

BAG_VERSION = 9  # rosbag2 metadata version (as Jazzy writes it)
DEFAULT_STORE = Stores.ROS2_JAZZY


class BagError(RuntimeError):
    """A bag cannot be written, read or repaired; the message says which path and why."""


@cache
def typestore(store: Stores = DEFAULT_STORE):
    """The rosbags typestore for a ROS distribution (cached; Jazzy by default, Humble works too)."""
    return get_typestore(store)


def deserialize(raw: bytes | memoryview, msgtype: str, store: Stores = DEFAULT_STORE) -> Any:
    """Raw CDR bytes of ``msgtype`` (``sensor_msgs/msg/Image``) as a rosbags message object."""
    return typestore(store).deserialize_cdr(bytes(raw), msgtype)


class BagWriter:
    """Write a rosbag2 bag (MCAP storage) of raw CDR messages.

    ``path`` is the bag directory; it must not exist yet (its parent is created). Topics are added
    with :meth:`add_topic` before their first :meth:`write`. ``counts`` holds messages written per
    topic. Use as a context manager or call :meth:`open` / :meth:`close`.
    """

    def __init__(self, path: Path | str, flush_every: int = 100, store: Stores = DEFAULT_STORE):
        if flush_every < 1:
            raise ValueError(f"flush_every={flush_every}: expected an integer >= 1")
        self.path = Path(path)
        self.flush_every = flush_every
        self.store = store
        self.counts: dict[str, int] = {}
        self._connections: dict[str, Any] = {}
        self._writer: Writer | None = None
        self._unflushed = 0
        self._pending_bytes = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def open(self) -> BagWriter:
        if self.path.exists():
            raise BagError(f"{self.path} exists already; a bag is never overwritten")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            writer = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
            writer.open()
        except (OSError, WriterError) as e:
            raise BagError(f"cannot create bag {self.path}: {e}") from e
        self._writer = writer
        return self

    @property
    def mcap_path(self) -> Path:
        return self.path / f"{self.path.name}.mcap"

    def close(self) -> None:
        """Finish the MCAP file (summary, footer) and write ``metadata.yaml``. Idempotent."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def abort(self) -> None:
        """Close the file without summary or metadata (leave it for :func:`repair`)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abort()

    def __enter__(self) -> BagWriter:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------
    def add_topic(self, topic: str, msgtype: str, msgdef: str | None = None, rihs01: str | None = None) -> None:
        """Register ``topic`` of ``msgtype`` (``pkg/msg/Name``). The definition comes from the
        typestore unless ``msgdef`` and ``rihs01`` are given."""
        w = self._require_open()
        if topic in self._connections:
            if self._connections[topic].msgtype != msgtype:
                raise BagError(f"topic {topic} already recorded as {self._connections[topic].msgtype}")
            return
        try:
            if msgdef is not None and rihs01 is not None:
                conn = w.add_connection(topic, msgtype, msgdef=msgdef, rihs01=rihs01)
            else:
                conn = w.add_connection(topic, msgtype, typestore=typestore(self.store))
        except KeyError as e:
            raise BagError(f"topic {topic}: message type {msgtype} is unknown to the {self.store.value} "
                           "typestore; pass msgdef and rihs01") from e
        self._connections[topic] = conn
        self.counts[topic] = 0

    def write(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Store one serialized message (raw CDR, as received)."""
        w = self._require_open()
        conn = self._connections.get(topic)
        if conn is None:
            raise BagError(f"topic {topic} was not added to bag {self.path}")
        w.write(conn, int(timestamp_ns), data)
        self.counts[topic] += 1
        self._pending_bytes += len(data) + 31  # record opcode, length and header fields
        self._unflushed += 1
        if self._unflushed >= self.flush_every:
            self.flush()

    def custom_data(self, key: str, value: str) -> None:
        """A ``key: value`` pair for ``metadata.yaml``'s ``custom_data`` (written at :meth:`close`)."""
        self._require_open().set_custom_data(key, value)

    def flush(self) -> None:
        """Close the open chunk and hand it to the OS: it survives a SIGKILL from here on."""
        w = self._require_open()
        storage = w.storage
        if storage.chunk.bio.tell():
            storage.close_chunk()
        storage.bio.flush()
        self._unflushed = 0
        self._pending_bytes = 0

    @property
    def bytes_written(self) -> int:
        """Bytes in the MCAP file so far, plus the open chunk (an estimate until close)."""
        if self._writer is None:
            return self.mcap_path.stat().st_size if self.mcap_path.exists() else 0
        return self._writer.storage.bio.tell() + self._writer.storage.chunk.bio.tell()

    def _require_open(self) -> Writer:
        if self._writer is None:
            raise BagError(f"bag {self.path} is not open")
        return self._writer


def read_bag(path: Path | str, topics: list[str] | None = None) -> Iterator[tuple[str, str, int, bytes]]:
    """Every message of the bag at ``path`` (optionally only ``topics``), in time order, as
    ``(topic, msgtype, timestamp_ns, raw_cdr)``."""
    with Reader(Path(path)) as reader:
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        for conn, timestamp, raw in reader.messages(connections=conns):
            yield conn.topic, conn.msgtype, timestamp, bytes(raw)


def bag_info(path: Path | str) -> dict[str, Any]:
    """``metadata.yaml``'s content that matters: ``{"message_count", "topics": {name: {"type",
    "count"}}, "files", "storage", "custom_data"}`` (``custom_data``: ``{}`` if the bag has none;
    physgen's recorder puts its per-topic counts, lost messages included, under ``physgen.recorder``)."""
    import yaml

    meta = yaml.safe_load((Path(path) / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return {
        "message_count": meta["message_count"],
        "storage": meta["storage_identifier"],
        "files": list(meta["relative_file_paths"]),
        "topics": {t["topic_metadata"]["name"]: {"type": t["topic_metadata"]["type"], "count": t["message_count"]}
                   for t in meta["topics_with_message_count"]},
        "custom_data": dict(meta.get("custom_data") or {}),
    }


def scan_mcap(file: Path | str) -> tuple[dict[int, tuple[str, str, str]], list[tuple[int, int, bytes]], bool]:
    """Read an MCAP file leniently, front to back: ``(channels {id: (topic, msgtype, msgdef)},
    messages [(channel id, log_time, data)], complete)``. A truncated file yields every message of
    every complete chunk before the cut; ``complete`` says whether the footer was reached."""
    from mcap.exceptions import McapError
    from mcap.records import Channel, Footer, Message, Schema
    from mcap.stream_reader import StreamReader

    schemas: dict[int, Schema] = {}
    channels: dict[int, tuple[str, str, str]] = {}
    messages: list[tuple[int, int, bytes]] = []
    complete = False
    with open(file, "rb") as f:
        try:
            for record in StreamReader(f, validate_crcs=True).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    schema = schemas.get(record.schema_id)
                    if schema is None:
                        continue
                    channels[record.id] = (record.topic, schema.name, schema.data.decode())
                elif isinstance(record, Message) and record.channel_id in channels:
                    messages.append((record.channel_id, record.log_time, bytes(record.data)))
                elif isinstance(record, Footer):
                    complete = True
        except (McapError, EOFError, ValueError, OSError, struct.error):
            pass  # the cut (or a torn record): everything before it has been collected
    return channels, messages, complete


def repair(path: Path | str, store: Stores = DEFAULT_STORE, keep_original: bool = True) -> dict[str, Any]:
    """Recover the bag at ``path`` after its writer died (metadata.yaml missing or stale, MCAP file
    without summary/footer). Every message of every complete chunk is rewritten, in time order, into
    a valid MCAP file with a correct ``metadata.yaml``. The damaged file is kept beside it as
    ``*.mcap.damaged`` unless ``keep_original`` is false. Returns :func:`bag_info` of the result."""
    path = Path(path)
    files = sorted(path.glob("*.mcap"))
    if not path.is_dir() or len(files) != 1:
        raise BagError(f"cannot repair {path}: expected a bag directory with exactly one .mcap file, "
                       f"found {[f.name for f in files]}")
    damaged = files[0]
    channels, messages, _ = scan_mcap(damaged)
    ts = typestore(store)
    tmp_root = path.parent / f".{path.name}.repair"
    if tmp_root.exists():
        shutil.rmtree(tmp_root)
    tmp_bag = tmp_root / path.name
    try:
        writer = BagWriter(tmp_bag, flush_every=1000, store=store).open()
        topic_of: dict[int, str] = {}
        for cid, (topic, msgtype, msgdef) in sorted(channels.items()):
            rihs01 = None
            if msgtype not in ts.fielddefs:
                local = get_typestore(store)
                local.register(get_types_from_msg(msgdef, msgtype))
                rihs01 = local.hash_rihs01(msgtype)
            writer.add_topic(topic, msgtype, msgdef=msgdef if rihs01 else None, rihs01=rihs01)
            topic_of[cid] = topic
        for cid, stamp, data in sorted(messages, key=lambda m: m[1]):
            writer.write(topic_of[cid], stamp, data)
        writer.close()
        fixed = tmp_bag / f"{path.name}.mcap"
        if keep_original:
            os.replace(damaged, damaged.with_name(damaged.name + ".damaged"))
        else:
            damaged.unlink()
        os.replace(fixed, path / fixed.name)
        os.replace(tmp_bag / "metadata.yaml", path / "metadata.yaml")
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return bag_info(path)
