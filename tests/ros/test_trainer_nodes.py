"""Trainer nodes over real DDS: the SFT node publishes progress and checkpoints and stops cleanly on
shutdown (resumable); the GRPO node with the graph as its environment (cell and executor nodes)
gets the same rewards as with its worker pool."""

from __future__ import annotations

import json

import pytest
from ros_helpers import executor, spin_until


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from physgen.models.hub import offline
    from physgen.models.recipes import build_model, load_recipe

    offline()
    return build_model(load_recipe("tiny-qwen2-vl"), tmp_path_factory.mktemp("model") / "tiny", seed=0)


def _params(**values):
    from rclpy.parameter import Parameter

    return [Parameter(k, value=v) for k, v in values.items()]


def _listen(ctx, *topics):
    from rclpy.node import Node
    from std_msgs.msg import String

    probe = Node("probe", context=ctx)
    got = {t: [] for t in topics}
    for t in topics:
        probe.create_subscription(String, t, lambda m, t=t: got[t].append(json.loads(m.data)), 10)
    return probe, got


@pytest.mark.slow
def test_sft_node_publishes_progress_and_stops_cleanly_on_shutdown(ros_context, tiny_model, tmp_path):
    from physgen_nodes.sft_node import SFTNode

    out = tmp_path / "sft"
    probe, got = _listen(ros_context, "training/progress", "training/checkpoint", "training/done")
    node = SFTNode(context=ros_context, parameter_overrides=_params(
        task="stability", model=str(tiny_model), out=str(out), steps=400, examples=4, lora=False, batch_size=2,
        save_steps=2, logging_steps=1, sample_answers=0, exit_when_done=False))
    ex = executor(ros_context, node, probe)
    try:
        assert spin_until(ex, lambda: len(got["training/checkpoint"]) >= 1, timeout=300)
    finally:
        ex.shutdown()
        node.destroy_node()  # the shutdown path: stop at the end of this step with a checkpoint
        probe.destroy_node()
    assert node.exit_code == 130 and node.model is None  # stopped before its job was done
    assert got["training/progress"][0]["job"] == "sft" and "loss" in got["training/progress"][0]["logs"]
    assert got["training/checkpoint"][0]["path"].endswith("checkpoint-2")
    stopped = max(int(p.name.split("-")[1]) for p in (out / "checkpoints").glob("checkpoint-*"))
    assert 2 <= stopped < 400 and not (out / "model").exists()  # saved where it stopped, not finished
    state = json.loads((out / "checkpoints" / f"checkpoint-{stopped}" / "trainer_state.json").read_text())
    assert state["global_step"] == stopped


def _pool_and_graph(ctx, model, tmp_path, run: dict, namespaces: tuple[str, ...]) -> tuple[list, list, list]:
    """The GRPO run ``run`` with the worker pool, then with the graph as its environment (a cell and an
    executor node in each of ``namespaces``): (pool log, graph log, cell nodes)."""
    from physgen.training.grpo import train_grpo
    from physgen.training.grpo_config import GRPORunConfig
    from physgen_nodes.cell_node import CellNode
    from physgen_nodes.executor_node import ExecutorNode
    from physgen_nodes.grpo_node import GRPONode

    train_grpo(GRPORunConfig(model=str(model), out=tmp_path / "pool", reward_workers=0, **run), progress=False)
    probe, got = _listen(ctx, "training/done")
    cells = [CellNode(context=ctx, namespace=ns, parameter_overrides=_params(rate_hz=5.0)) for ns in namespaces]
    nodes = [*cells, *(ExecutorNode(context=ctx, namespace=ns) for ns in namespaces),
             GRPONode(context=ctx, parameter_overrides=_params(
                 model=str(model), out=str(tmp_path / "graph"), environment="graph", cells=list(namespaces),
                 exit_when_done=False, **run))]
    ex = executor(ctx, *nodes, probe)
    try:
        assert spin_until(ex, lambda: bool(got["training/done"]), timeout=600)
    finally:
        ex.shutdown()
        for n in (*nodes, probe):
            n.destroy_node()
    assert got["training/done"][0]["ok"], got["training/done"]
    pool, graph = ([json.loads(ln) for ln in (tmp_path / name / "log.jsonl").read_text().splitlines()]
                   for name in ("pool", "graph"))
    return pool, graph, cells


def _curve(log: list[dict], *keys: str) -> list[tuple]:
    return [tuple(r[k] for k in ("reward", "samples", "reasons", *keys)) for r in log]


@pytest.mark.slow
def test_grpo_on_the_graph_gets_the_pool_rewards(ros_context, tiny_model, tmp_path):
    run = {"task": "shift", "steps": 2, "examples": 2, "num_generations": 2, "max_completion_length": 4,
           "learning_rate": 1e-3, "save_steps": 10}
    pool, graph, cells = _pool_and_graph(ros_context, tiny_model, tmp_path, run, ("",))
    assert _curve(graph) == _curve(pool)
    assert cells[0].counts["judged"] == 4  # every completion executed and judged on the graph, once


@pytest.mark.slow
def test_multi_step_grpo_on_two_cells_gets_the_pool_rewards(ros_context, tiny_model, tmp_path):
    """Two cell + executor pairs in their own namespaces (as on two machines) share the completions;
    the frames after each attempt come from the cells' camera streams and equal the pool's renders."""
    run = {"task": "fall_direction", "steps": 2, "examples": 2, "num_generations": 4, "max_completion_length": 4,
           "learning_rate": 1e-3, "save_steps": 10, "mode": "multi-step", "attempts": 3}
    pool, graph, cells = _pool_and_graph(ros_context, tiny_model, tmp_path, run, ("a", "b"))
    assert _curve(graph, "attempts_mean", "loss") == _curve(pool, "attempts_mean", "loss")
    assert max(r["attempts_mean"] for r in pool) > 1  # later attempts, from the streamed frames, took part
    assert all(c.counts["judged"] > 0 for c in cells)  # both cells did work
