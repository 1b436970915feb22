"""3. Recording: the recorder node writing a steady stream, and the bag read back."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from bench_cell import median, progress

from rosbench.graph import (
    RECORDED,
    RESOLUTIONS,
    Bench,
    Budget,
    NodeProcess,
    Nodes,
    scene_frame,
    stamp_ns,
)


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
