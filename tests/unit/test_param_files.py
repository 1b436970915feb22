"""The ROS 2 parameter files in config/ and the launch files in launch/ against the code: every key is
a real parameter of its node, every parameter is there with the code's default (bar the recorder's
output and topics, which have none), and the launch files, `physgen bringup` and the CLI name the
same graphs, files, nodes and launch arguments.

The nodes' config dataclasses live in their node modules, which import rclpy: those checks skip
where rclpy is not installed."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

from physgen.cli import BRINGUP_GRAPHS
from physgen.config import build
from physgen.resources import data_dir
from physgen_nodes.bringup import (
    DEFAULT_ENVIRONMENT,
    ENDING,
    ENVIRONMENT,
    GRAPHS,
    NODE_CONFIGS,
    NODES,
    PARAMS_FILES,
    graph_arguments,
    load_params,
    params_for,
)
from physgen_nodes.params import defaults, nest

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch"

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


def test_every_node_has_its_config_classes_listed():
    assert set(NODE_CONFIGS) == set(NODES)


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


def test_the_cli_offers_the_bringup_graphs():
    assert tuple(BRINGUP_GRAPHS) == tuple(GRAPHS)


def test_exactly_the_ending_nodes_have_exit_when_done_and_a_graph_has_at_most_one():
    with_it = {node for node in NODE_CONFIGS
               if any("exit_when_done" in d for _, _, d in node_parameters(node))}
    assert with_it == set(ENDING)
    assert all(sum(n in ENDING for n in nodes) <= 1 for nodes in GRAPHS.values())


def test_the_environment_default_is_the_nodes():
    for graph, (node, started) in ENVIRONMENT.items():
        assert set(started) < set(GRAPHS[graph])
        assert {"environment": DEFAULT_ENVIRONMENT}.items() <= \
            {k: v for _, _, d in node_parameters(node) for k, v in d.items()}.items()


# -- the launch files, read as source (ROS 2 launch is not pip-installable) ----------------------

def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def _keywords(call: ast.Call) -> dict[str, object]:
    out = {}
    for k in call.keywords:
        try:
            out[k.arg] = ast.literal_eval(k.value)
        except ValueError:
            out[k.arg] = k.value
    return out


def _launch_tree(graph: str) -> ast.Module:
    return ast.parse((LAUNCH / f"{graph}.launch.py").read_text())


@pytest.mark.parametrize("graph", list(GRAPHS))
def test_launch_file_defaults_to_the_graphs_parameter_file(graph):
    tree = _launch_tree(graph)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert PARAMS_FILES[graph] in strings
    assert "generate_launch_description" in {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}


@pytest.mark.parametrize("graph", ["cell", "record"])
def test_single_node_launch_file_starts_its_node(graph):
    nodes = [_keywords(c) for c in _calls(_launch_tree(graph), "Node")]
    assert [(n["package"], n["executable"], n["name"]) for n in nodes] == \
        [("physgen", NODES[name][0].rsplit(".", 1)[1], name) for name in GRAPHS[graph]]


@pytest.mark.parametrize("graph", ["evaluation", "sft", "grpo", "real_arm"])
def test_graph_launch_starts_the_graph_and_takes_bringups_arguments(graph):
    tree = _launch_tree(graph)
    calls = [c for name in ("node", "respawned") for c in _calls(tree, name)
             if all(isinstance(a, ast.Constant) for a in c.args[:2])]  # started nodes, not the helpers' own calls
    started = [ast.literal_eval(c.args[1]) for c in calls]
    assert sorted(started) == sorted(GRAPHS[graph])
    executables = {ast.literal_eval(c.args[1]): ast.literal_eval(c.args[0]) for c in calls}
    assert executables == {n: NODES[n][0].rsplit(".", 1)[1] for n in GRAPHS[graph]}
    overrides = next(n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                     and getattr(n.targets[0], "id", None) == "OVERRIDES")
    arguments = {ast.literal_eval(k): ast.literal_eval(v.elts[2]) for k, v in zip(overrides.keys, overrides.values)}
    assert arguments == graph_arguments(graph)


def test_every_launch_argument_belongs_to_some_graph():
    from physgen_nodes.bringup import LAUNCH_ARGUMENTS

    assert set(LAUNCH_ARGUMENTS) == {arg for graph in GRAPHS for arg in graph_arguments(graph)}


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
