"""The ROS 2 parameter files in config/ against the code: every key is a real parameter of its node,
every parameter is there with the code's default (bar the recorder's output and topics, which have
none), and each graph's file has exactly the graph's nodes (physgen_nodes/graphs.py; the spec itself
and the launch files are tests/unit/test_graphs.py's).

The nodes' config dataclasses live in their node modules, which import rclpy: those checks skip
where rclpy is not installed."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest

from physgen.config import build
from physgen.resources import data_dir
from physgen_nodes.bringup import load_params, params_for
from physgen_nodes.graphs import GRAPHS, NODE_CONFIGS, PARAMS_FILES
from physgen_nodes.params import defaults, nest

ROOT = Path(__file__).resolve().parents[2]

# required: the files give real values (examples, for the trainers' task, model and out)
NO_DEFAULT = {("recorder", "output"), ("recorder", "topics"),
              *((trainer, name) for trainer in ("sft", "grpo") for name in ("task", "model", "out"))}
# (file, node, parameter): set apart from the code's default on purpose, each marked CHANGED in its file
DELIBERATE = {("real_arm.yaml", node, name) for node, name in (
    ("vlm", "policy"), ("executor", "armed"), ("executor", "joint_states_timeout_s"), ("executor", "camera_timeout_s"),
    ("executor", "safety.velocity_scale"), ("executor", "done_by"))}
CASES = [(PARAMS_FILES[graph], node) for graph in GRAPHS for node in GRAPHS[graph]]


def config_class(module: str, name: str) -> type:
    if module.startswith("physgen_nodes."):
        pytest.importorskip("rclpy", reason="the node modules need rclpy (the ros extra)")
    return getattr(importlib.import_module(module), name)


def node_parameters(node: str) -> list[tuple[type, str, dict]]:
    """(config class, prefix, {dotted parameter name: default}) for each config of ``node``."""
    out = []
    for module, name, prefix in NODE_CONFIGS[node]:
        cls = config_class(module, name)
        out.append((cls, prefix, defaults(cls, prefix)))
    return out


@pytest.mark.parametrize(("file", "node"), CASES, ids=[f"{f}:{n}" for f, n in CASES])
def test_file_gives_every_parameter_of_the_node_at_its_default(file, node):
    params, _ = params_for(load_params(data_dir("config") / file), node)
    configs = node_parameters(node)
    expected = {name: value for _, _, d in configs for name, value in d.items()}
    unknown = sorted(set(params) - set(expected))
    assert unknown == [], f"{file}: {node} has no parameters {unknown}"
    missing = sorted(set(expected) - set(params))
    assert missing == [], f"{file}: {node}'s parameters {missing} are not in the file"
    differ = {k: (params[k], expected[k]) for k in expected if (node, k) not in NO_DEFAULT and params[k] != expected[k]}
    deliberate = {k for f, n, k in DELIBERATE if (f, n) == (file, node)}
    assert set(differ) == deliberate, f"{file}: {node} values (file, code default) differ"
    text = (data_dir("config") / file).read_text().splitlines()
    for k in deliberate:  # and the file says so where it sets the value
        assert any(line.strip().startswith(k.rsplit(".", 1)[-1] + ":") and "CHANGED" in line for line in text), k
    for cls, prefix, d in configs:  # and the values build the config, as the node will
        values = {k[len(prefix):]: params[k] for k in d}
        assert dataclasses.is_dataclass(build(cls, nest(values), prefix.rstrip(".")))


def test_each_graph_file_has_exactly_its_graphs_nodes():
    for graph, nodes in GRAPHS.items():
        entries = load_params(data_dir("config") / PARAMS_FILES[graph])
        assert sorted(target for target, _, _ in entries) == sorted(nodes), graph


@pytest.mark.parametrize("name, kind", [("deepspeed_zero2", "DEEPSPEED"), ("fsdp", "FSDP")])
def test_the_example_accelerate_configs_load(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(ROOT / "config" / "accelerate" / f"{name}.yaml"))
    assert cfg.distributed_type.name == kind and cfg.num_processes == 8 and not cfg.use_cpu


@pytest.mark.parametrize("name", ["franka_fr3", "ur5e"])
def test_the_real_arm_examples_give_real_parameters_that_build(name):
    entries = load_params(data_dir("config") / "real_arm" / f"{name}.yaml")
    assert sorted(target for target, _, _ in entries) == ["executor", "vlm"]
    for node in ("vlm", "executor"):
        params, _ = params_for(entries, node)
        for cls, _, d in node_parameters(node):
            assert set(params) <= set(d), f"{name}: {node} has no parameters {sorted(set(params) - set(d))}"
            cfg = build(cls, nest({**d, **params}), "")
            if node == "executor":
                assert cfg.armed is False and cfg.done_by == "joint_states"
                assert len(cfg.safety.acceleration) == len(cfg.arm.arm_joints) == len(cfg.arm.rest_pose)
