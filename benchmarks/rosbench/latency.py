"""2. Camera-to-answer latency over the VLM node, against the policy in this process."""

from __future__ import annotations

import time
from pathlib import Path

from bench_cell import median, paired_ratio, progress

from physgen.policy.base import Observation
from physgen.tasks import load_task
from physgen.tasks.codec import parse
from rosbench.graph import (
    POLICIES,
    RECIPE,
    RESOLUTIONS,
    SPLIT,
    TASK,
    Bench,
    Budget,
    NodeProcess,
    Nodes,
    percentile,
    reset_cell,
    scene_frame,
)


class Asker:
    """vlm/instruction out, vlm/answer in, matched by request_id."""

    def __init__(self, bench: Bench, prompt: str, seed: int):
        from std_msgs.msg import String

        from physgen_nodes.conversions import Rejected, record_of

        self.bench, self.prompt, self.seed = bench, prompt, seed
        self.answers: dict[str, tuple[float, dict]] = {}

        def on(msg: String) -> None:
            t = time.perf_counter()
            try:
                rec = record_of(msg, "answer")
            except Rejected:
                return
            with bench.cond:
                self.answers[str(rec.get("request_id"))] = (t, rec)
                bench.cond.notify_all()

        self.sub = bench.node.create_subscription(String, "vlm/answer", on, 10)
        self.pub = bench.node.create_publisher(String, "vlm/instruction", 10)

    def send(self, rid: str) -> float:
        from physgen_nodes.conversions import record_msg

        msg = record_msg("instruction", {"task": TASK, "seed": self.seed, "split": SPLIT, "prompt": self.prompt,
                                         "request_id": rid, "frame_after_ns": 0})
        t0 = time.perf_counter()
        self.pub.publish(msg)
        return t0

    def ask(self, rid: str, nodes: tuple[NodeProcess, ...], timeout: float = 120.0) -> tuple[float, dict]:
        t0 = self.send(rid)
        if not self.bench.wait(lambda: rid in self.answers, timeout, nodes):
            raise RuntimeError(f"no answer to {rid} within {timeout:.0f} s")
        t, rec = self.answers[rid]
        return t - t0, rec

    def warm_up(self, tag: str, nodes: tuple[NodeProcess, ...], timeout: float = 180.0) -> None:
        """Once the VLM node subscribes (it has loaded its policy by then), send until it answers (the first
        requests can still be lost while the match completes), wait until every request sent is answered or
        a few seconds pass (no stale work queued when timing starts), then two more untimed requests."""
        if not self.bench.wait(lambda: self.pub.get_subscription_count() > 0, timeout, nodes):
            raise RuntimeError(f"the VLM node did not subscribe to vlm/instruction within {timeout:.0f} s:\n"
                               + "\n".join(n.tail() for n in nodes))
        sent: list[str] = []
        end = time.monotonic() + timeout
        while not any(r in self.answers for r in sent):
            if time.monotonic() > end:
                raise RuntimeError(f"the VLM node did not answer within {timeout:.0f} s:\n"
                                   + "\n".join(n.tail() for n in nodes))
            sent.append(f"warm-{tag}-{len(sent)}")
            self.send(sent[-1])
            self.bench.wait(lambda: any(r in self.answers for r in sent), 5.0, nodes)
        self.bench.wait(lambda: all(r in self.answers for r in sent), 5.0, nodes)
        for i in range(2):
            self.ask(f"warm-{tag}-x{i}", nodes)

    def close(self) -> None:
        self.bench.node.destroy_subscription(self.sub)
        self.bench.node.destroy_publisher(self.pub)


def bench_policy(bench: Bench, nodes: Nodes, asker: Asker, cell_node: NodeProcess, name: str, obs: Observation,
                 model_dir: Path, budget: Budget, seed: int, threads: int) -> dict:
    from physgen.policy.factory import make_policy

    params = {"policy": name, "seed": seed, **({"model": str(model_dir)} if name == "vlm" else {})}
    vlm = nodes.start(f"vlm_{name}", "vlm_node", params, env={"OMP_NUM_THREADS": str(threads)})
    cpu0, t0 = cell_node.cpu_s(), time.perf_counter()  # the cell node's load from here to the last request
    policy = None
    try:
        progress(f"2. latency {name}: loading the policy in process, waiting for the VLM node ...")
        policy = make_policy(name, seed, str(model_dir) if name == "vlm" else None)
        watch = (vlm, cell_node)
        asker.warm_up(name, watch)
        fmt = obs.answer_format

        def local() -> tuple[float, str]:
            t0 = time.perf_counter()
            raw = policy.act(obs)
            parse(raw, fmt)
            return time.perf_counter() - t0, raw

        for _ in range(2):
            local()
        inproc, ros, recs, texts = [], [], [], []
        progress(f"2. latency {name}: {budget.requests} requests each way, interleaved ...")
        for i in range(budget.requests):
            for side in ("in", "ros") if i % 2 == 0 else ("ros", "in"):
                if side == "in":
                    dt, raw = local()
                    inproc.append(dt)
                    texts.append(raw)
                else:
                    dt, rec = asker.ask(f"{name}-{i}", watch)
                    ros.append(dt)
                    recs.append(rec)
        cell_load = (cell_node.cpu_s() - cpu0) / (time.perf_counter() - t0)
        rc = nodes.stop(vlm)
    finally:
        nodes.stop(vlm)
        if policy is not None:
            policy.close()
    if any(r.get("reason") == "no_frame" for r in recs):
        raise RuntimeError(f"the VLM node answered no_frame for {name}")
    stages = {k: [r["latency"][k] for r in recs] for k in ("frame_age_s", "preprocess_s", "generate_s", "parse_s")}
    work = [r["latency"]["preprocess_s"] + r["latency"]["generate_s"] + r["latency"]["parse_s"] for r in recs]
    ms = lambda xs: [1e3 * x for x in xs]  # noqa: E731
    return {
        "requests": budget.requests, "node_exit": rc, "cell_node_cpu_over_wall": cell_load,
        "in_process_ms": {"median": median(ms(inproc)), "p90": percentile(ms(inproc), 90)},
        "ros_ms": {"median": median(ms(ros)), "p90": percentile(ms(ros), 90)},
        "ratio_ros_over_in_process": paired_ratio(ros, inproc),
        "stages_ms": {k: median(ms(v)) for k, v in stages.items()},
        "ros_extra_ms": {"median": median(ms([a - b for a, b in zip(ros, work)])),
                         "p90": percentile(ms([a - b for a, b in zip(ros, work)]), 90)},
        "same_answer": (sum(r["raw"] == t for r, t in zip(recs, texts)) if name == "vlm" else None),
        "in_process_texts": sorted(set(texts))[:3], "ros_texts": sorted({r["raw"] for r in recs})[:3],
        "reasons": sorted({r["reason"] for r in recs}),
    }


def bench_latency(bench: Bench, nodes: Nodes, budget: Budget, seed: int, threads: int, stream_hz: float) -> dict:
    import torch

    from physgen.models.recipes import resolve_model

    torch.set_num_threads(threads)
    progress(f"2. latency: resolving {RECIPE} (built into the model cache if missing), a cell node at "
             f"{stream_hz:g} Hz ...")
    model_dir = resolve_model(RECIPE)
    cell, inst, frame = scene_frame(seed, *RESOLUTIONS["224x224"])
    cell.close()
    cell_node = nodes.start("cell_answer", "cell_node", {"rate_hz": stream_hz})
    asker = None
    out: dict = {"model_dir": str(model_dir), "stream_hz": stream_hz, "threads": threads, "policies": {}}
    try:
        ep = reset_cell(bench, cell_node, seed)
        if ep["prompt"] != inst.prompt:
            raise RuntimeError("the cell node's prompt differs from the in-process one")
        task = load_task(TASK)
        obs = Observation(frame, inst.prompt, task.name, seed, task.answer_format, None)  # as the VLM node builds it
        asker = Asker(bench, inst.prompt, seed)
        for name in POLICIES:
            out["policies"][name] = bench_policy(bench, nodes, asker, cell_node, name, obs, model_dir, budget, seed,
                                                 threads)
        out["cell_node_exit"] = nodes.stop(cell_node)
    finally:
        if asker is not None:
            asker.close()
        nodes.stop(cell_node)
    return out


def report_latency(lat: dict, b: Budget) -> list[str]:
    lines = [f"2. Camera-to-answer latency, ms  (median / p90 of {b.requests} requests each way, interleaved; "
             f"cell node 224x224 at {lat['stream_hz']:g} Hz; torch threads {lat['threads']})",
             "   in-proc = policy.act + parse here on the same frame; ROS = vlm/instruction published -> vlm/answer "
             "received; stages from the answer record;",
             "   ROS extra = ROS - (preprocess + generate + parse): messaging, callbacks, thread hand-off",
             f"   {'policy':<18}{'in-proc':>17}{'ROS':>17}{'ROS/in':>9}{'ROS extra':>15}{'frame age':>10}"
             f"{'preproc':>9}{'generate':>10}{'parse':>8}{'same answer':>13}"]
    for name, p in lat["policies"].items():
        label = f"vlm {RECIPE}" if name == "vlm" else name
        same = "n/a" if p["same_answer"] is None else f"{p['same_answer']}/{p['requests']}"
        st = p["stages_ms"]
        pair = lambda d: f"{d['median']:.2f} / {d['p90']:.2f}"  # noqa: E731
        lines.append(f"   {label:<18}{pair(p['in_process_ms']):>17}{pair(p['ros_ms']):>17}"
                     f"{p['ratio_ros_over_in_process']:>8.2f}x{pair(p['ros_extra_ms']):>15}{st['frame_age_s']:>10.1f}"
                     f"{st['preprocess_s']:>9.3f}{st['generate_s']:>10.2f}{st['parse_s']:>8.3f}{same:>13}")
    for name, p in lat["policies"].items():
        lines.append(f"   {name} answers: ROS {p['ros_texts']!r}, in-process {p['in_process_texts']!r}; "
                     f"codec reasons {p['reasons']}")
    lines.append("   the cell node streaming used " + ", ".join(
        f"{p['cell_node_cpu_over_wall']:.2f} ({name})" for name, p in lat["policies"].items())
        + f" of a core (from the VLM node's start to the last request); model: {lat['model_dir']}")
    return lines
