"""The graph spec (physgen_nodes/graphs.py) and what reads it: the launch files (through
physgen_nodes/launching.py), `physgen bringup`'s options, setup.py's node executables. The spec is
the one source, so these check that it is whole (every node has its configs, every launch argument
sets real parameters of a graph's nodes) and that each reader takes it as it is.

The nodes' config dataclasses live in their node modules, which import rclpy, and ROS 2 launch is
not pip-installable: those checks skip where they are missing."""

from __future__ import annotations

import ast
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from physgen.config import ConfigError
from physgen.resources import data_dir
from physgen_nodes import graphs
from physgen_nodes.graphs import (
    ARGUMENTS,
    ENDING,
    ENVIRONMENT,
    EXECUTABLES,
    GRAPHS,
    NODE_CONFIGS,
    NODES,
    OPTIONAL,
    PARAMS_FILES,
    RECORDING,
    REMAPS,
    TRAINERS,
    WATCHED,
    argument_value,
    default_environment,
    describe,
    graph_arguments,
    graph_nodes,
)
from physgen_nodes.launching import starts

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch"


def node_defaults(node: str) -> dict:
    pytest.importorskip("rclpy", reason="the node modules need rclpy (the ros extra)")
    return graphs.node_defaults(node)


def test_the_spec_imports_only_the_standard_library_and_setup_py_reads_it_by_path():
    code = ("import sys, physgen_nodes.graphs; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('physgen', 'rclpy', 'yaml', 'launch', 'launch_ros', 'torch', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    spec = runpy.run_path(str(ROOT / "physgen_nodes" / "graphs.py"))
    assert spec["EXECUTABLES"] == EXECUTABLES == {n: m.rsplit(".", 1)[1] for n, (m, _) in NODES.items()}
    setup = (ROOT / "setup.py").read_text()
    assert 'runpy.run_path(str(HERE / "physgen_nodes" / "graphs.py"))["EXECUTABLES"]' in setup


def test_every_node_has_its_config_classes_listed_and_every_graph_its_parameter_file():
    assert set(NODE_CONFIGS) == set(NODES)
    assert all(set(nodes) <= set(NODES) for nodes in GRAPHS.values())
    assert set(PARAMS_FILES) == set(GRAPHS)
    assert all((data_dir("config") / name).is_file() for name in PARAMS_FILES.values())
    for graph, node in OPTIONAL.items():
        assert node in GRAPHS[graph]
        assert set(RECORDING.get(graph, {})) <= set(GRAPHS[graph])
    assert set(RECORDING) <= set(OPTIONAL)
    assert set(WATCHED) <= set(GRAPHS) and set(TRAINERS) <= set(ENDING)


def test_exactly_the_ending_nodes_have_exit_when_done_and_a_graph_has_at_most_one():
    assert {node for node in NODES if "exit_when_done" in node_defaults(node)} == set(ENDING)
    assert all(sum(n in ENDING for n in nodes) <= 1 for nodes in GRAPHS.values())


def test_the_environment_default_is_read_from_the_node_and_is_one_the_argument_allows():
    for graph, (node, started) in ENVIRONMENT.items():
        assert set(started) < set(GRAPHS[graph])
        default = default_environment(graph)  # the node's config default: the one source
        assert default == node_defaults(node)["environment"]
        assert default in ARGUMENTS["environment"].allowed()
        assert graph_nodes(graph) == graph_nodes(graph, environment=default)


def test_every_launch_argument_belongs_to_some_graph_and_sets_real_parameters():
    assert set(ARGUMENTS) == {arg for graph in GRAPHS for arg in graph_arguments(graph)}
    for name, arg in ARGUMENTS.items():
        for node, param in arg.sets:
            assert param in node_defaults(node), f"{name} sets {node}.{param}, which the node does not have"
    for record in RECORDING.values():
        for node, values in record.items():
            assert set(values) <= set(node_defaults(node))


def test_launch_argument_texts_become_the_parameters_values():
    assert argument_value("tasks", "stability, shift:3,,") == ["stability", "shift:3"]
    assert argument_value("tasks", "all") == argument_value("tasks", ",".join(argument_value("tasks", "all")))
    assert argument_value("episodes", "4") == 4 and argument_value("seed", "-1") == -1
    assert argument_value("armed", "True") is True and argument_value("armed", "false") is False
    assert argument_value("environment", "graph") == "graph"
    for name, text, expected in [("episodes", "0", "positive integer"), ("seed", "x", "an integer"),
                                 ("tasks", "nope", "NAME or NAME:EPISODES"), ("policy", "oracle", "one of"),
                                 ("mode", "two-step", "one of")]:
        with pytest.raises(ConfigError, match=expected):
            argument_value(name, text)
    assert describe("seed", "real_arm") == f"vlm.seed: {ARGUMENTS['seed'].help}"


# -- the launch files -------------------------------------------------------------------------

@pytest.mark.parametrize("graph", list(GRAPHS))
def test_each_launch_file_describes_its_graph_from_the_spec(graph):
    tree = ast.parse((LAUNCH / f"{graph}.launch.py").read_text())
    generate = next(f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                    and f.name == "generate_launch_description")
    (ret,) = [n for n in ast.walk(generate) if isinstance(n, ast.Return)]
    assert isinstance(ret.value, ast.Call) and getattr(ret.value.func, "id", None) == "launch_description"
    assert [ast.literal_eval(a) for a in ret.value.args] == [graph]


def test_there_is_a_launch_file_for_every_graph_and_no_other():
    assert sorted(p.name for p in LAUNCH.glob("*.launch.py")) == sorted(f"{g}.launch.py" for g in GRAPHS)


SAMPLES = {graphs.integer: "1", graphs.positive: "1", graphs.flag: "true", graphs.task_list: "stability"}


def _no_file() -> str:
    raise AssertionError("the parameter file is read only where no argument decides the environment")


@pytest.mark.parametrize("graph", list(GRAPHS))
def test_a_launch_starts_the_graphs_nodes_with_its_arguments(graph):
    plan = starts(graph, {"record": "true", "environment": "graph"}, _no_file)  # every node started
    assert [(s.name, s.executable) for s in plan] == [(n, EXECUTABLES[n]) for n in GRAPHS[graph]]
    assert [s.respawn for s in plan] == [graph in WATCHED and n not in TRAINERS for n in GRAPHS[graph]]
    assert [s.trainer for s in plan] == [n in TRAINERS for n in GRAPHS[graph]]
    given = {arg: SAMPLES.get(ARGUMENTS[arg].convert) or (ARGUMENTS[arg].allowed() or ("x",))[-1]
             for arg in graph_arguments(graph)}  # every argument given: it sets exactly its parameters
    plan = starts(graph, {**given, "record": "true"}, _no_file)
    overridden = {(s.name, param) for s in plan for param in s.overrides}
    recording = {(node, param) for node, values in RECORDING.get(graph, {}).items() for param in values}
    assert overridden == {t for targets in graph_arguments(graph).values() for t in targets} | recording


def test_a_launch_starts_the_optional_node_on_record_and_the_environment_from_the_file(tmp_path):
    assert [s.name for s in starts("evaluation", {"record": "false"}, _no_file)] == \
        [n for n in GRAPHS["evaluation"] if n != "recorder"]
    plan = starts("evaluation", {"record": "true", "policy": " expert "}, _no_file)
    assert plan[-2].name == "recorder" and plan[-1].overrides == {"policy": "expert", "wait_for_recorder": True}
    path = tmp_path / "grpo.yaml"
    path.write_text("/**:\n  ros__parameters:\n    environment: pool\n"
                    "grpo:\n  ros__parameters:\n    environment: graph\n")  # the later entry wins
    assert [s.name for s in starts("grpo", {}, lambda: str(path))] == ["cell", "executor", "grpo"]
    assert [s.name for s in starts("grpo", {"environment": "pool"}, _no_file)] == ["grpo"]
    path.write_text("grpo:\n  ros__parameters:\n    environment: cluster\n")
    with pytest.raises(ConfigError, match="environment='cluster'"):
        starts("grpo", {}, lambda: str(path))


def test_the_launch_description_is_the_specs_under_ros2_launch(tmp_path):
    """The real thing where ROS 2 launch is installed: every argument declared, and the Node actions."""
    pytest.importorskip("launch_ros", reason="needs ROS 2 launch")
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler
    from launch.launch_context import LaunchContext
    from launch.launch_description_sources import get_launch_description_from_python_launch_file
    from launch_ros.actions import Node

    params = tmp_path / "params.yaml"
    params.write_text("grpo:\n  ros__parameters:\n    environment: graph\n")
    for graph in GRAPHS:
        description = get_launch_description_from_python_launch_file(str(LAUNCH / f"{graph}.launch.py"))
        declared = [e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)]
        assert declared == ["params_file", *graph_arguments(graph), *REMAPS.get(graph, {}),
                            *(["record"] if graph in OPTIONAL else []),
                            *(["sigterm_timeout"] if set(GRAPHS[graph]) & set(TRAINERS) else [])]
        context = LaunchContext()
        context.launch_configurations.update({"params_file": str(params), "record": "true"})
        actions = []
        for entity in description.entities:
            if isinstance(entity, DeclareLaunchArgument):
                entity.visit(context)
            elif isinstance(entity, OpaqueFunction):
                actions += entity.visit(context)
        nodes = [a for a in actions if isinstance(a, Node)]
        assert [n.node_executable for n in nodes] == [EXECUTABLES[n] for n in GRAPHS[graph]]
        handlers = [a for a in actions if isinstance(a, RegisterEventHandler)]
        assert len(handlers) == (2 * len(nodes) if graph in WATCHED else 0)


# -- physgen bringup's options ----------------------------------------------------------------

def test_the_cli_offers_the_graphs_and_every_launch_argument_as_an_option(monkeypatch):
    from physgen import cli
    from physgen_nodes import bringup

    parser = cli._parser()
    for graph in GRAPHS:
        assert parser.parse_args(["bringup", graph]).graph == graph
    with pytest.raises(SystemExit):
        parser.parse_args(["bringup", "camera"])
    options = next(a for a in parser._subparsers._group_actions).choices["bringup"]._option_string_actions
    for name in ARGUMENTS:
        assert options[f"--{name.replace('_', '-')}"].help == describe(name)
    for bad in (["--episodes", "0"], ["--tasks", "nope"], ["--seed", "x"], ["--steps", "2"]):  # before any node
        assert cli.main(["bringup", "evaluation", *bad]) == 2
    got = {}
    monkeypatch.setattr(bringup, "run", lambda graph, params, sets, arguments, *rest: got.update(arguments) or 0)
    assert cli.main(["bringup", "evaluation", "--tasks", "stability,shift:2", "--episodes", "3", "--out-dir", "o",
                     "--armed"]) == 0
    assert got == {**dict.fromkeys(ARGUMENTS), "tasks": "stability,shift:2", "episodes": "3", "out_dir": "o",
                   "armed": True}  # texts, as ros2 launch gets them: bringup.run makes them values
