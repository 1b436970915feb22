"""1. Streaming camera/image_raw from a cell node, against rendering in this process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from bench_cell import median, paired_ratio, progress

from physgen.cell.cell import RobotCell
from physgen.tasks import load_task
from rosbench.graph import (
    DOMAIN_ID,
    RESOLUTIONS,
    SPLIT,
    SPLIT_RES,
    STREAM_CASES,
    TASK,
    Bench,
    Budget,
    NodeProcess,
    Nodes,
    num,
    reset_cell,
    scene_frame,
    stamp_ns,
)


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
