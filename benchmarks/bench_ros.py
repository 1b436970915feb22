"""ROS 2 transport performance: streaming, asking and recording over real DDS between processes, each
against the same work done in one process.

Every node runs as a process of its own (`python -m physgen.cli node NAME --ros-args -p ...`, as `ros2 run`
starts it) in this run's own ROS domain (random in 101..230, printed in the header) with
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, so no DDS traffic leaves the host. Node processes die with the
benchmark: SIGINT (and a wait) at the end of each part and on any error, SIGKILL when the benchmark itself is
killed (Linux PR_SET_PDEATHSIG). The benchmark process holds one rclpy node, spun by a single-threaded
executor on a background thread, that publishes, subscribes and timestamps (time.perf_counter in the
callbacks). The scene is task stability, seed --seed, train split (episode.begin in process; a cell/reset
record for a cell node).

1. streaming - frames/s of the cell node streaming camera/image_raw (rate_hz 0: as fast as it renders;
   cell.scene_camera.width/height set the resolution) received in the benchmark process (IMAGE_QOS), against
   RobotCell.render() called in a loop in the benchmark process on the same scene at the same resolution.
   At 224x224 and 640x480, one node process per resolution. Three cases, interleaved per repetition
   (A B C, C B A, ...), --phase-seconds each:
     in-process   render() in a loop while the node is paused (SIGSTOP); fps = frames / time;
     stream       the node running (SIGCONT); after 0.5 s of settling, the frames arriving in the window;
                  fps = (n - 1) / (last arrival - first arrival);
     stream+jpeg  the same with a second subscription, on camera/image_raw/compressed, that makes the node
                  JPEG-encode every frame too (the VLM node subscribes to both).
   Ratios are medians of per-repetition paired ratios; transport cost = 1 - stream/in-process (goal < 5%).
   The node runs with reuse_frames false and the in-process loop calls render(reuse=False): both draw every
   frame (an unchanged scene's frame is otherwise reused, and a cache hit is not a render). A phase that
   saw no frame makes its ratios "n/a" (not measured), never a crash.
   "sent" counts the frames the node published in the window (its joint_states, one per frame, reliable,
   depth 10), "lost" those of them that never arrived (the camera QoS keeps only the latest frame);
   "delivery" is stamp -> subscriber callback (the node stamps a frame after rendering it, before
   converting and publishing it); cpu/wall is the node's CPU time (all its threads, /proc) over the window.
   "same frame" checks that a streamed frame equals the in-process one byte for byte. Then the per-frame
   costs of the node's and a subscriber's extra work, timed in this process on the same frame (median of
   20 calls, 5 with --quick): image_msg, rclpy serialize/deserialize of the Image, image_array, JPEG encode
   (compressed_msg) and decode (compressed_array), as a share of one render. Last, where a streaming node's
   time goes (224x224): the real CellNode class in this process (its own rclpy context, no subscriber),
   interleaved like the cases above: render() in a loop; publish_frame() in a loop (render + messages +
   publish, no executor); its 0-period timer spun by a SingleThreadedExecutor; and by the
   SingleThreadedExecutor that physgen_nodes.runner.run_node (so every node process) uses, against the
   MultiThreadedExecutor it used before.
2. camera-to-answer latency - a cell node streaming 224x224 at --stream-hz and a VLM node (policy, seed,
   model; torch limited to --threads through OMP_NUM_THREADS) in two processes; the benchmark publishes a
   vlm/instruction record (frame_after_ns 0: the latest frame) and times publish -> vlm/answer received,
   one request at a time, --requests of them, interleaved (A B, B A, ...) with as many direct calls of
   policy.act(observation) + codec.parse in the benchmark process (torch.set_num_threads(--threads)) on the
   frame the cell node shows (rendered in process, the same bytes). Policies: chance (seed --seed; transport
   dominates) and vlm with the tiny-qwen2-vl recipe's model (resolve_model: built locally into the model
   cache if missing, never downloaded; HF_HUB_OFFLINE=1 here and in the nodes). The answer's own per-stage
   latency (frame age, preprocess, generate, parse) is reported too; "ROS extra" = ROS - (preprocess +
   generate + parse). "same answer" compares the node's text with the in-process text (vlm only: greedy).
   Every case runs untimed first. The cell node keeps streaming (and JPEG-encoding, since the VLM node
   subscribes to the compressed topic too) during both sides; its CPU load is printed.
3. recording - the recorder node in a process (topics camera/image_raw and joint_states, MCAP bag in a
   temporary directory) while the benchmark publishes one pre-rendered 640x480 rgb8 frame (a RobotCell whose
   scene camera is 640x480) with a fresh header (image_msg) plus the arm's joint_states, both at --rate-hz
   for --seconds, on a steady schedule (absolute deadlines t0 + k/rate). It reports published / received /
   written / dropped per topic (the recorder's last recorder/status record once it has received all it
   will), the achieved publish rate and lateness (the publishers wait until the recorder acknowledged
   every message before they go), stops the recorder with SIGINT (it closes the bag) and reads the bag back
   (bag_info: metadata counts; read_bag: every message counted and its header stamp matched against the
   published ones, which names any publication missing; the first image compared with the published frame).
   "reported" is the recorder's own count of lost messages (gaps in each publisher's publication numbers),
   which should equal "lost" (published - received).

Progress goes to stderr, the tables to stdout; node logs to a temporary directory (their tail is printed if a
node fails). Seeds are explicit (--seed).

    .venv/bin/python benchmarks/bench_ros.py [--quick] [--requests N] [--seconds S] [--parts 1,2,3] [--json PATH]
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench_cell import c_stdout_captured, print_tables
from rosbench.graph import (
    DOMAIN_ID,
    SPLIT,
    SPLIT_RES,
    TASK,
    Bench,
    Budget,
    Nodes,
    num,
)
from rosbench.latency import bench_latency, report_latency
from rosbench.recording import bench_recording, report_recording
from rosbench.streaming import bench_streaming, report_streaming

from physgen.models.hub import offline


def summaries(res: dict) -> list[str]:
    out = ["Summary"]
    if "streaming" in res:
        s = res["streaming"]["resolutions"]
        costs = " / ".join(f"{num(x['transport_cost']['stream'], '.1%')} ({r})" for r, x in s.items())
        jpeg = " / ".join(num(x["transport_cost"]["stream+jpeg"], ".1%") for x in s.values())
        cpu = " / ".join(f"{100 * (x['cpu_ratio_over_in_process']['stream'] - 1):+.1f}%" for x in s.values())
        measured = [x["transport_cost"]["stream"] for x in s.values()]
        goal = ("not measured (a phase saw no frame)" if None in measured else
                "met" if max(measured) < 0.05 else "NOT met")
        out.append(f"   1. streaming over DDS costs {costs} of the in-process frame rate "
                   f"(goal < 5%: {goal}); with a JPEG subscriber {jpeg}; "
                   f"node CPU per frame vs in-process {cpu}")
        split = next(iter(res["streaming"]["node_split"].values()))
        out.append(f"      split ({SPLIT_RES}, CellNode in process): frame rate over render(): "
                   + ", ".join(f"{k} {num(v['fps_ratio'], '.3f', 'x')}" for k, v in list(split.items())[1:]))
    if "latency" in res:
        parts, spread = [], []
        for name, p in res["latency"]["policies"].items():
            spread.append(p["ros_ms"]["p90"] / p["ros_ms"]["median"])
            parts.append(f"{name}: {p['ros_ms']['median']:.1f} ms over ROS vs {p['in_process_ms']['median']:.2f} ms "
                         f"in process ({p['ratio_ros_over_in_process']:.1f}x, ROS extra "
                         f"{p['ros_extra_ms']['median']:.1f} ms), p90 {spread[-1]:.2f}x the median")
        out.append("   2. camera-to-answer " + "; ".join(parts)
                   + f" (goal p90 <= 1.5x the median: {'met' if max(spread) <= 1.5 else 'NOT met'})")
    if "recording" in res:
        r = res["recording"]
        got = ", ".join(f"{v.get('written', 0)}/{v['published']} {t}" for t, v in r["topics"].items())
        drops = sum(v.get("dropped", 0) for v in r["topics"].values())
        lost = sum(v["lost"] for v in r["topics"].values())
        bag = "not readable" if r["bag"] is None else "reads back " + " + ".join(
            str(v["in_bag_read"]) for v in r["topics"].values())
        out.append(f"   3. recording at {r['publish']['rate_hz']:.2f} Hz wrote {got}; {drops} dropped, {lost} lost "
                   f"in transport (goal 0: {'met' if drops == 0 and lost == 0 else 'NOT met'}); the bag {bag}")
    return out


def environment() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import rclpy

    def v(pkg: str) -> str:
        try:
            return version(pkg)
        except PackageNotFoundError:
            return "?"

    return {"python": platform.python_version(), "rclpy": v("ros-rclpy") if v("ros-rclpy") != "?" else v("rclpy"),
            "rmw": os.environ.get("RMW_IMPLEMENTATION", "default (rmw_fastrtps_cpp)"), "fastdds": v("ros-fastdds"),
            "rclpy_path": str(Path(rclpy.__file__).parent), "machine": platform.machine(), "system": platform.system(),
            "cpus": os.cpu_count(), "domain_id": DOMAIN_ID, "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)  # runs the finally blocks: nodes stopped, temporary files removed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (~1-2 min): 2 reps of 1.5 s, 8 requests, 3 s "
                                                         "recording")
    ap.add_argument("--reps", type=int, default=None, help="interleaved repetitions per streaming case (4; 2 --quick)")
    ap.add_argument("--phase-seconds", type=float, default=None, help="seconds per streaming phase (3; 1.5 --quick)")
    ap.add_argument("--requests", type=int, default=None, help="instructions per policy, each way (40; 8 --quick)")
    ap.add_argument("--seconds", type=float, default=None, help="recording duration in seconds (10; 3 --quick)")
    ap.add_argument("--rate-hz", type=float, default=30.0, help="recording publish rate per topic (default 30)")
    ap.add_argument("--stream-hz", type=float, default=10.0, help="cell node rate during part 2 (default 10, the "
                                                                 "node's default)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads, here and in the VLM node (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="scene seed (task stability) and policy seed (default 0)")
    ap.add_argument("--parts", default="1,2,3", help="which parts to run, comma-separated (default 1,2,3)")
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = ap.parse_args(argv)
    for flag in ("reps", "requests", "threads"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            ap.error(f"--{flag} {v}: expected a positive integer")
    for flag in ("phase_seconds", "seconds", "rate_hz", "stream_hz"):
        v = getattr(args, flag)
        if v is not None and not v > 0:
            ap.error(f"--{flag.replace('_', '-')} {v}: expected a positive number")
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - {"1", "2", "3"}:
        ap.error(f"--parts {args.parts!r}: expected a comma-separated subset of 1,2,3")
    budget = Budget.quick() if args.quick else Budget()
    budget = dataclasses.replace(budget, **{k: v for k, v in (("reps", args.reps), ("phase_s", args.phase_seconds),
                                                               ("requests", args.requests), ("seconds", args.seconds))
                                            if v is not None})

    offline()  # HF_HUB_OFFLINE=1 and friends, here and (inherited) in every node process
    signal.signal(signal.SIGTERM, _sigterm)
    t0 = time.perf_counter()
    results: dict = {"env": environment(), "budget": dataclasses.asdict(budget),
                     "args": {k: v for k, v in vars(args).items() if k != "json"}}
    with tempfile.TemporaryDirectory(prefix="bench-ros-") as tmpdir, c_stdout_captured():
        tmp = Path(tmpdir)
        nodes = Nodes(tmp)
        atexit.register(nodes.stop_all)
        bench = None
        try:
            bench = Bench()
            if "1" in parts:
                results["streaming"] = bench_streaming(bench, nodes, budget, args.seed)
            if "2" in parts:
                results["latency"] = bench_latency(bench, nodes, budget, args.seed, args.threads, args.stream_hz)
            if "3" in parts:
                results["recording"] = bench_recording(bench, nodes, budget, args.seed, args.rate_hz, tmp)
        finally:
            nodes.stop_all()
            if bench is not None:
                bench.close()
    results["wall_s"] = time.perf_counter() - t0

    env = results["env"]
    print(f"physgen ROS benchmark  python {env['python']}  rclpy {env['rclpy']}  Fast DDS {env['fastdds']}  "
          f"{env['system']}/{env['machine']} {env['cpus']} cpus  {env['date']}")
    print(f"every node a separate process; ROS_DOMAIN_ID {DOMAIN_ID}, ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST; "
          f"scene {TASK} seed {args.seed} ({SPLIT}); TinyRenderer")
    blocks = []
    if "streaming" in results:
        blocks.append(report_streaming(results["streaming"], budget))
    if "latency" in results:
        blocks.append(report_latency(results["latency"], budget))
    if "recording" in results:
        blocks.append(report_recording(results["recording"]))
    blocks.append(summaries(results))
    print_tables(blocks, results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
