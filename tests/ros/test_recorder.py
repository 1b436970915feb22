"""The recorder node over real DDS: a recorded bag reads back message for message, with zero drops;
a bad output fails at start naming it; max_bytes, or a disk that fills up, stops recording cleanly,
leaving a readable bag."""

from __future__ import annotations

import contextlib
import json
import subprocess

import pytest
from ros_helpers import executor, spin_until

from physgen.config import ConfigError

TOPICS = ["camera/image_raw", "camera/camera_info", "joint_states", "cell/episode"]


def _recorder(ctx, output, topics, **params):
    from rclpy.parameter import Parameter

    from physgen_nodes.recorder_node import RecorderNode

    overrides = [Parameter("output", value=str(output)), Parameter("topics", value=list(topics))]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    return RecorderNode(context=ctx, parameter_overrides=overrides)


def test_a_recorded_cell_reads_back_message_for_message(ros_context, tmp_path):
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from std_msgs.msg import String

    from physgen.recording.bag import bag_info, deserialize, read_bag
    from physgen_nodes.cell_node import CellNode
    from physgen_nodes.conversions import record_msg, record_of

    bag = tmp_path / "cell_bag"
    cell = CellNode(context=ros_context, parameter_overrides=[Parameter("rate_hz", value=20.0)])
    recorder = _recorder(ros_context, bag, TOPICS, flush_every=10)
    probe = Node("probe", context=ros_context)
    statuses = []
    probe.create_subscription(String, "recorder/status", lambda m: statuses.append(record_of(m, "recorder_status")),
                              10)
    reset = probe.create_publisher(String, "cell/reset", 10)
    ex = executor(ros_context, cell, recorder, probe)
    try:
        assert spin_until(ex, lambda: recorder.state == "recording" and not recorder.waiting, timeout=20)
        while not recorder.written.get("/cell/episode"):
            reset.publish(record_msg("reset", {"task": "stability", "seed": 1, "split": "train"}))
            spin_until(ex, lambda: recorder.written.get("/cell/episode", 0) > 0, timeout=1.0)
        start = recorder.written["/camera/image_raw"]
        assert spin_until(ex, lambda: recorder.written["/camera/image_raw"] >= start + 20 and len(statuses) >= 1,
                          timeout=30)
    finally:
        ex.shutdown()
        cell.destroy_node()
    status = recorder.status()
    recorder.close()
    recorder.destroy_node()
    probe.destroy_node()

    assert status["state"] == "recording" and status["dropped"] == 0 and status["waiting_for"] == []
    assert statuses[-1]["schema"] == "recorder_status" and statuses[-1]["dropped"] == 0
    counts = {t: v["written"] for t, v in status["topics"].items()}
    assert all(v["received"] == v["written"] for v in status["topics"].values())
    assert set(counts) == {"/" + t for t in TOPICS} and all(counts.values())

    messages = list(read_bag(bag))
    got = {t: sum(1 for m in messages if m[0] == t) for t in counts}
    assert got == counts
    stamps = [m[2] for m in messages]
    assert stamps == sorted(stamps)
    first = next(m for m in messages if m[0] == "/camera/image_raw")
    assert first[1] == "sensor_msgs/msg/Image"
    image = deserialize(first[3], first[1])
    assert (image.width, image.height, image.encoding, image.step) == (224, 224, "rgb8", 224 * 3)
    assert len(image.data) == 224 * 224 * 3
    episode = deserialize(next(m for m in messages if m[0] == "/cell/episode")[3], "std_msgs/msg/String")
    assert json.loads(episode.data)["task"] == "stability"
    info = bag_info(bag)
    assert info["storage"] == "mcap" and info["message_count"] == len(messages)
    assert {t: v["count"] for t, v in info["topics"].items()} == counts
    assert info["topics"]["/joint_states"]["type"] == "sensor_msgs/msg/JointState"


@pytest.mark.parametrize("where", ["under_a_file", "existing"])
def test_an_unwritable_output_fails_at_start_naming_output(ros_context, tmp_path, where):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    output = blocker / "bag" if where == "under_a_file" else tmp_path
    with pytest.raises(ConfigError) as err:
        _recorder(ros_context, output, ["chatter"], existing="refuse")
    assert err.value.name == "output" and str(output) in str(err.value)


def test_missing_topics_fail_at_start_naming_topics(ros_context, tmp_path):
    from rclpy.parameter import Parameter

    from physgen_nodes.recorder_node import RecorderNode

    with pytest.raises(ConfigError) as err:
        RecorderNode(context=ros_context, parameter_overrides=[Parameter("output", value=str(tmp_path / "b"))])
    assert err.value.name == "topics"


def test_max_bytes_stops_recording_and_leaves_a_readable_bag(ros_context, tmp_path):
    from rclpy.node import Node
    from std_msgs.msg import String

    from physgen.recording.bag import bag_info, read_bag

    bag = tmp_path / "small"
    recorder = _recorder(ros_context, bag, ["chatter"], max_bytes=20_000, flush_every=5)
    talker = Node("talker", context=ros_context)
    pub = talker.create_publisher(String, "chatter", 10)
    ex = executor(ros_context, recorder, talker)
    try:
        assert spin_until(ex, lambda: recorder.state == "recording", timeout=20)
        for _ in range(400):
            pub.publish(String(data="x" * 200))
            ex.spin_once(timeout_sec=0.001)
            if recorder.state == "stopped":
                break
        assert spin_until(ex, lambda: recorder.state == "stopped", timeout=10)
    finally:
        ex.shutdown()
        talker.destroy_node()
    status = recorder.status()
    recorder.destroy_node()
    assert "max_bytes" in status["reason"]
    written = status["topics"]["/chatter"]["written"]
    assert 0 < written < 400 and bag_info(bag)["message_count"] == written
    assert len(list(read_bag(bag))) == written and (bag / "small.mcap").stat().st_size < 40_000


@contextlib.contextmanager
def small_disk(path, mib: int):
    """A real filesystem of ``mib`` MiB at ``path`` (tmpfs; the test is skipped where mounting is not permitted)."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(path)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a small filesystem here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.parametrize("filler", [False, True])
def test_a_disk_that_fills_up_stops_recording_and_leaves_a_readable_bag(ros_context, tmp_path, filler):
    """Filled by the recording: it stops with room left to close the bag. Filled at once by another
    writer: the write fails, recording stops, and once room is made the bag is repaired."""
    from rclpy.node import Node
    from std_msgs.msg import String

    from physgen.recording.bag import deserialize, read_bag, repair

    with small_disk(tmp_path / "disk", 40) as disk:  # the recorder wants 16 MiB free to start
        bag = disk / "full"
        recorder = _recorder(ros_context, bag, ["chatter"], flush_every=1)
        talker = Node("talker", context=ros_context)
        pub = talker.create_publisher(String, "chatter", 10)
        ex = executor(ros_context, recorder, talker)
        try:
            assert spin_until(ex, lambda: recorder.state == "recording", timeout=20)
            for i in range(400):  # 80 MB: twice the disk
                if filler and i == 5:  # another writer takes every byte left
                    with open(disk / "filler", "wb") as f, contextlib.suppress(OSError):
                        while True:
                            f.write(b"\0" * 2**20)
                            f.flush()
                pub.publish(String(data=f"{i:06d}" + "x" * 200_000))
                spin_until(ex, lambda i=i: recorder.received.get("/chatter", 0) > i, timeout=5)
                if recorder.state == "stopped":
                    break
            pub.publish(String(data="after"))  # received and counted as dropped: the node keeps running
            assert spin_until(ex, lambda: recorder.received.get("/chatter", 0) > i + 1, timeout=10)
        finally:
            ex.shutdown()
            talker.destroy_node()
        status = recorder.status()
        recorder.destroy_node()
        written = status["topics"]["/chatter"]["written"]
        assert status["state"] == "stopped" and status["topics"]["/chatter"]["dropped"] >= 1
        if filler:
            assert "No space left" in status["reason"] and written >= 5
            (disk / "filler").unlink()  # room again, as a user would make it
            repair(bag)
        else:
            assert "disk nearly full" in status["reason"] and 50 < written < 400
        numbers = [int(deserialize(m[3], m[1]).data[:6]) for m in read_bag(bag)]
        assert numbers == list(range(written))  # in order, none lost before the stop


def _recorder_process(ctx, bag, *params):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "ROS_DOMAIN_ID": str(ctx.get_domain_id()),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    args = ["-p", f"output:={bag}", "-p", "topics:=[chatter]"]
    for p in params:
        args += ["-p", p]
    return subprocess.Popen([sys.executable, "-m", "physgen_nodes.recorder_node", "--ros-args", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _statuses(node) -> list[dict]:
    """The recorder's status records, as ``node``'s subscription receives them."""
    from std_msgs.msg import String

    from physgen_nodes.conversions import record_of

    statuses: list[dict] = []
    node.create_subscription(String, "recorder/status", lambda m: statuses.append(record_of(m, "recorder_status")), 10)
    return statuses


def _talk_until(ctx, proc, status_ok, count_min: int):
    """Publish numbered strings on chatter until the recorder's status says it has ``count_min``
    written; returns the last status."""
    from rclpy.node import Node
    from std_msgs.msg import String


    talker = Node("talker", context=ctx)
    pub = talker.create_publisher(String, "chatter", 100)
    statuses = _statuses(talker)
    ex = executor(ctx, talker)
    i = 0
    try:
        def done() -> bool:
            return bool(statuses) and status_ok(statuses[-1]) and statuses[-1]["written"] >= count_min

        while not done():
            assert proc.poll() is None, proc.stderr.read()
            pub.publish(String(data=f"msg {i}"))
            i += 1
            ex.spin_once(timeout_sec=0.005)
            assert i < 200_000
    finally:
        ex.shutdown()
        talker.destroy_node()
    return statuses[-1]


def _record(ctx, bag, count: int, stop: str = "SIGINT") -> tuple[int, str]:
    """A recorder process (chunks of 10 messages) recording ``bag`` until it has written ``count``,
    then stopped with the signal ``stop``: its exit status and stderr."""
    import signal

    proc = _recorder_process(ctx, bag, "flush_every:=10")
    try:
        _talk_until(ctx, proc, lambda s: s["state"] == "recording", count)
    finally:
        proc.send_signal(getattr(signal, stop))
        _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_recorder_process_finishes_the_bag_on_sigint(ros_context, tmp_path):
    from physgen.recording.bag import bag_info, read_bag

    bag = tmp_path / "proc_bag"
    code, err = _record(ros_context, bag, 50)
    assert code == 0, err
    info = bag_info(bag)
    assert info["topics"]["/chatter"]["count"] == info["message_count"] >= 50
    assert len(list(read_bag(bag))) == info["message_count"]


def test_after_sigkill_repair_recovers_every_flushed_message(ros_context, tmp_path):
    import signal

    from physgen.recording.bag import deserialize, read_bag, repair

    bag = tmp_path / "killed_bag"
    proc = _recorder_process(ros_context, bag, "flush_every:=10")
    try:
        status = _talk_until(ros_context, proc, lambda s: s["state"] == "recording", 60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert not (bag / "metadata.yaml").exists()
    info = repair(bag)
    messages = list(read_bag(bag))
    # at the status's moment >= 60 were written, so >= 50 were in flushed chunks
    assert len(messages) == info["message_count"] >= status["written"] - 10
    assert len(messages) % 10 == 0  # whole chunks only
    texts = [deserialize(m[3], "std_msgs/msg/String").data for m in messages]
    numbers = [int(t.split()[1]) for t in texts]
    assert numbers == sorted(numbers)


def test_recorder_process_with_a_bad_output_exits_2_naming_it(ros_context, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    proc = _recorder_process(ros_context, blocker / "bag")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "config output=" in err and "Traceback" not in err, err


STREAM = 150  # frames: 5 s at 30 Hz. With rclpy's multi-threaded executor in the recorder, 300 lost 2-58 of them


def test_a_recorder_process_keeps_every_message_of_a_stream_and_a_burst(ros_context, tmp_path):
    """A camera at 30 Hz (640x480 rgb8, the cell's QoS) with its joint states for 5 s, then a burst of
    100 records published back to back: every message is in the bag, none lost or dropped on the way
    (counts and stamps, not times)."""
    import json
    import signal
    import time

    import numpy as np
    from rclpy.duration import Duration
    from rclpy.node import Node
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Header, String

    from physgen.recording.bag import bag_info, deserialize, read_bag
    from physgen_nodes.cell_node import IMAGE_QOS
    from physgen_nodes.conversions import image_msg

    bag = tmp_path / "burst"
    proc = _recorder_process(ros_context, bag, "topics:=[camera/image_raw,joint_states,chatter]")
    talker = Node("talker", context=ros_context)
    pubs = {"/camera/image_raw": talker.create_publisher(Image, "camera/image_raw", IMAGE_QOS),
            "/joint_states": talker.create_publisher(JointState, "joint_states", 10),
            "/chatter": talker.create_publisher(String, "chatter", 100)}
    statuses = _statuses(talker)
    ex = executor(ros_context, talker)
    frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    sent = {t: [] for t in pubs}
    try:
        assert spin_until(ex, lambda: bool(statuses) and statuses[-1]["state"] == "recording"
                          and not statuses[-1]["waiting_for"] or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, proc.stderr.read()
        t0 = time.perf_counter()
        for k in range(STREAM):  # 30 Hz, on a steady schedule
            time.sleep(max(0.0, t0 + k / 30 - time.perf_counter()))
            stamp = talker.get_clock().now().to_msg()
            pubs["/camera/image_raw"].publish(image_msg(frame, Header(stamp=stamp, frame_id="camera")))
            pubs["/joint_states"].publish(JointState(header=Header(stamp=stamp), name=["j"], position=[k / STREAM]))
            sent["/camera/image_raw"].append(k)
            sent["/joint_states"].append(k)
        for k in range(100):
            pubs["/chatter"].publish(String(data=json.dumps({"k": k})))
            sent["/chatter"].append(k)
        assert all(p.wait_for_all_acked(Duration(seconds=30)) for p in pubs.values())
        total = sum(len(v) for v in sent.values())
        spin_until(ex, lambda: statuses[-1]["received"] + statuses[-1]["lost"] >= total, timeout=30)
        status = statuses[-1]
    finally:
        ex.shutdown()
        talker.destroy_node()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    counts = {t: (v["received"], v["written"], v["dropped"], v["lost"]) for t, v in status["topics"].items()}
    assert counts == {"/camera/image_raw": (STREAM, STREAM, 0, 0), "/joint_states": (STREAM, STREAM, 0, 0),
                      "/chatter": (100, 100, 0, 0)}
    got = {t: [] for t in pubs}
    for topic, msgtype, _, raw in read_bag(bag):
        msg = deserialize(raw, msgtype)
        got[topic].append(json.loads(msg.data)["k"] if topic == "/chatter" else
                          round(msg.position[0] * STREAM) if topic == "/joint_states" else len(got[topic]))
    assert got == sent  # every message, in order
    recorded = json.loads(bag_info(bag)["custom_data"]["physgen.recorder"])
    assert {t: v["lost"] for t, v in recorded.items()} == dict.fromkeys(pubs, 0)
    assert {t: v["written"] for t, v in recorded.items()} == {t: len(v) for t, v in sent.items()}


def test_an_existing_bag_is_continued_in_its_next_part_and_said_so_or_refused(ros_context, tmp_path):
    from physgen.recording.bag import bag_info

    bag = tmp_path / "bag"
    bag.mkdir()
    (tmp_path / "bag.part2").mkdir()
    code, err = _record(ros_context, bag, 20)
    assert code == 0, err
    assert f"{bag} exists: recording on in {tmp_path / 'bag.part3'}" in err
    assert bag_info(tmp_path / "bag.part3")["message_count"] >= 20
    with pytest.raises(ConfigError) as refused:
        _recorder(ros_context, bag, ["chatter"], existing="refuse")
    assert refused.value.name == "output"


def test_messages_lost_before_the_recorder_are_counted_logged_and_in_the_bags_metadata(ros_context, tmp_path):
    """A recorder process with a subscription history of 5, paused (SIGSTOP) while a publisher sends 50
    messages: on waking it finds 50 in the transport and keeps the last 5, the others are lost before
    the recorder took them; it counts the gap in the publication numbers as lost, and says so in its
    status, its log and the bag."""
    import json
    import signal
    import time

    from rclpy.duration import Duration
    from rclpy.node import Node
    from std_msgs.msg import String

    from physgen.recording.bag import bag_info

    bag = tmp_path / "gappy"
    proc = _recorder_process(ros_context, bag, "queue_depth:=5")
    talker = Node("talker", context=ros_context)
    pub = talker.create_publisher(String, "chatter", 50)
    statuses = _statuses(talker)
    ex = executor(ros_context, talker)
    try:
        assert spin_until(ex, lambda: bool(statuses) and statuses[-1]["state"] == "recording"
                          or proc.poll() is not None, timeout=60)
        pub.publish(String(data="first"))
        assert spin_until(ex, lambda: statuses[-1]["received"] == 1, timeout=20)
        proc.send_signal(signal.SIGSTOP)
        for k in range(50):
            pub.publish(String(data=f"{k}"))
        time.sleep(0.5)
        proc.send_signal(signal.SIGCONT)
        assert pub.wait_for_all_acked(Duration(seconds=20))
        assert spin_until(ex, lambda: statuses[-1]["received"] + statuses[-1]["lost"] >= 51, timeout=20)
        status = statuses[-1]["topics"]["/chatter"]
    finally:
        proc.send_signal(signal.SIGCONT)
        ex.shutdown()
        talker.destroy_node()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert status["received"] + status["lost"] == 51 and status["lost"] >= 40, status
    assert "message(s) lost before they reached the recorder" in err
    recorded = json.loads(bag_info(bag)["custom_data"]["physgen.recorder"])["/chatter"]
    assert (recorded["lost"], recorded["written"]) == (status["lost"], status["received"])


def test_a_recorder_killed_again_and_again_leaves_every_part_readable(ros_context, tmp_path):
    """Respawned after each SIGKILL (existing: next), the recorder repairs every part a killed
    recorder left, not only the first, and records on in the next."""
    from physgen.recording.bag import bag_info

    bag = tmp_path / "bag"
    for stop in ("SIGKILL", "SIGKILL", "SIGINT"):
        _record(ros_context, bag, 20, stop)
    parts = [bag, tmp_path / "bag.part2", tmp_path / "bag.part3"]
    assert sorted(tmp_path.glob("bag*")) == parts
    assert all(bag_info(p)["message_count"] >= 20 for p in parts)
