"""rosbag2 (MCAP) writing, reading and repair after a kill, without ROS."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("rosbags")
pytest.importorskip("mcap")

from physgen.recording.bag import BagError, BagWriter, bag_info, deserialize, read_bag, repair, typestore  # noqa: E402


def _image(i: int) -> bytes:
    ts = typestore()
    Image, Header, Time = (ts.types[n] for n in ("sensor_msgs/msg/Image", "std_msgs/msg/Header",
                                                 "builtin_interfaces/msg/Time"))
    data = np.full(8 * 6 * 3, i % 256, dtype=np.uint8)
    msg = Image(header=Header(stamp=Time(sec=i, nanosec=0), frame_id="cam"), height=6, width=8,
                encoding="rgb8", is_bigendian=0, step=24, data=data)
    return bytes(ts.serialize_cdr(msg, "sensor_msgs/msg/Image"))


def _string(i: int) -> bytes:
    ts = typestore()
    return bytes(ts.serialize_cdr(ts.types["std_msgs/msg/String"](data=f"record {i}"), "std_msgs/msg/String"))


def _messages(n: int):
    """n images and n strings, interleaved, as (topic, msgtype, stamp, raw)."""
    for i in range(n):
        for k, (topic, msgtype, raw) in enumerate((("camera/image_raw", "sensor_msgs/msg/Image", _image(i)),
                                                   ("cell/episode", "std_msgs/msg/String", _string(i)))):
            yield topic, msgtype, 1_000_000_000 + (2 * i + k) * 1000, raw


def _open(path, flush_every: int) -> BagWriter:
    bag = BagWriter(path, flush_every=flush_every).open()
    bag.add_topic("camera/image_raw", "sensor_msgs/msg/Image")
    bag.add_topic("cell/episode", "std_msgs/msg/String")
    return bag


def _write(path, n: int, flush_every: int):
    """A finished bag of :func:`_messages`; returns the list written."""
    written = list(_messages(n))
    bag = _open(path, flush_every)
    for topic, _, stamp, raw in written:
        bag.write(topic, stamp, raw)
    assert bag.counts == {"camera/image_raw": n, "cell/episode": n}
    bag.close()
    return written


def test_a_bag_reads_back_message_for_message(tmp_path):
    bag = tmp_path / "run1"
    written = _write(bag, 25, flush_every=7)
    assert list(read_bag(bag)) == written
    info = bag_info(bag)
    assert info["storage"] == "mcap" and info["message_count"] == 50 and info["files"] == ["run1.mcap"]
    assert info["topics"] == {"camera/image_raw": {"type": "sensor_msgs/msg/Image", "count": 25},
                              "cell/episode": {"type": "std_msgs/msg/String", "count": 25}}
    first = deserialize(written[0][3], "sensor_msgs/msg/Image")
    assert (first.width, first.height, first.encoding) == (8, 6, "rgb8")
    assert deserialize(written[-1][3], "std_msgs/msg/String").data == "record 24"


def test_the_mcap_tools_read_the_bag(tmp_path):
    from mcap.reader import make_reader

    bag = tmp_path / "run"
    written = _write(bag, 5, flush_every=3)
    with open(bag / "run.mcap", "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        assert summary.statistics.message_count == 10
        got = [(ch.topic, msg.log_time, msg.data) for _, ch, msg in reader.iter_messages()]
    assert got == [(t, s, d) for t, _, s, d in written]


def test_an_existing_or_unwritable_path_is_refused(tmp_path):
    (tmp_path / "exists").mkdir()
    with pytest.raises(BagError, match="exists"):
        BagWriter(tmp_path / "exists").open()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BagError, match="cannot create"):
        BagWriter(blocker / "bag").open()


def _killed_bag(tmp_path, n: int, flush_every: int, cut: float):
    """A bag whose writer died: chunks flushed so far, no summary, no metadata.yaml, then the file
    cut at ``cut`` of its length. Returns (bag, written, message count per flushed chunk)."""
    bag = tmp_path / "killed"
    writer = _open(bag, flush_every)
    written, chunk_ends = list(_messages(n)), []  # file size after each flushed chunk -> messages by then
    for count, (topic, _, stamp, raw) in enumerate(written, start=1):
        writer.write(topic, stamp, raw)
        if count % flush_every == 0:
            chunk_ends.append((writer.mcap_path.stat().st_size, count))
    writer.abort()  # like SIGKILL: nothing more reaches the file
    mcap = bag / "killed.mcap"
    size = int(mcap.stat().st_size * cut)
    with open(mcap, "r+b") as f:
        f.truncate(size)
    # every chunk (with its message index) wholly before the cut must come back
    survived = max((count for end, count in chunk_ends if end <= size), default=0)
    return bag, written, survived


@pytest.mark.parametrize("cut", [0.35, 0.6, 0.97])
def test_repair_after_a_kill_recovers_every_complete_chunk(tmp_path, cut):
    from physgen.recording.bag import scan_mcap

    bag, written, at_least = _killed_bag(tmp_path, 40, flush_every=10, cut=cut)
    assert not (bag / "metadata.yaml").exists()
    _, scanned, complete = scan_mcap(bag / "killed.mcap")
    assert not complete
    assert len(scanned) % 10 == 0 and len(scanned) >= at_least  # whole chunks only
    info = repair(bag)
    recovered = list(read_bag(bag))
    assert recovered == written[: len(recovered)] and len(recovered) == len(scanned) > 0
    counts = {t: sum(1 for m in recovered if m[0] == t) for t in ("camera/image_raw", "cell/episode")}
    assert info["message_count"] == len(recovered)
    assert {t: v["count"] for t, v in info["topics"].items()} == counts
    assert (bag / "killed.mcap.damaged").exists()


def test_repair_of_a_bag_cut_before_its_first_chunk_gives_an_empty_bag(tmp_path):
    bag, _, _ = _killed_bag(tmp_path, 40, flush_every=10, cut=0.001)
    info = repair(bag)
    assert info["message_count"] == 0 and list(read_bag(bag)) == []


def test_physgen_bag_repair_and_info_commands(tmp_path, capsys):
    from physgen.cli import main

    bag, _, survived = _killed_bag(tmp_path, n=40, flush_every=10, cut=0.6)
    assert main(["bag", "repair", str(bag)]) == 0
    capsys.readouterr()
    assert main(["bag", "info", str(bag)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["message_count"] == survived
