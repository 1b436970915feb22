"""What the launch files share (imported by them only: ROS 2 ``launch`` is imported inside the
functions, so this module loads where launch is not installed).

:func:`launch_description` is a launch file's whole description, read from the graph spec
(:mod:`physgen_nodes.graphs`): the arguments (``params_file``, the graph's launch arguments and topic
remappings, ``record`` where it has an optional node, ``sigterm_timeout`` where it has a trainer),
then, when launched, the nodes :func:`starts` gives: each reads ``params_file``, then the launch
arguments given (not empty; their texts become values as the spec says, and a bad one stops the
launch before any node starts); in a :data:`~physgen_nodes.graphs.WATCHED` graph each is watched and
every node but a trainer is respawned.

:func:`watched` gives a node action the handlers that apply :mod:`physgen_nodes.exits`' rule, the
one ``physgen bringup --supervise`` applies: the ending node's success ends the launch (status 0),
a failure ends it with status 1 (:class:`NodeFailed`, logged as "Caught exception in launch": ROS 2
launch's only non-zero status; the node's own status is in that line), and so does Ctrl-C before the
ending node's job was done; a node that failed at start is not respawned, any other death is left
to the action's ``respawn``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from physgen_nodes.exits import RESPAWN_DELAY_S, Exits
from physgen_nodes.graphs import (
    ENVIRONMENT,
    EXECUTABLES,
    GRAPHS,
    OPTIONAL,
    PARAMS_FILES,
    RECORDING,
    REMAPS,
    TRAINERS,
    WATCHED,
    argument_value,
    describe,
    ending,
    graph_arguments,
    graph_nodes,
)

SIGTERM_TIMEOUT_S = "600"  # trainer nodes: s from Ctrl-C to SIGTERM, to finish the step and save a checkpoint


class NodeFailed(RuntimeError):
    """Raised from a process-exit handler: ``ros2 launch`` shuts down and exits with status 1."""


def exit_handler(exits: Exits, name: str):
    """An ``OnProcessExit`` callback for the node ``name``."""

    def on_exit(event, context):
        shutting_down = context is not None and context.is_shutdown  # Ctrl-C, or another node's verdict
        if shutting_down and (name != exits.ending or event.returncode <= 0):
            return None  # a node stopped by the shutdown: nothing to decide
        verdict = exits.exited(name, event.returncode)
        if verdict.action == "restart":
            print(f"[physgen] {verdict.message}", file=sys.stderr, flush=True)
            return None
        if verdict.status:
            raise NodeFailed(verdict.message)
        from launch.actions import EmitEvent
        from launch.events import Shutdown

        return [EmitEvent(event=Shutdown(reason=verdict.message))]

    return on_exit


def watched(exits: Exits, name: str, node) -> list:
    """``node`` (a launch_ros ``Node`` named ``name``) and the handlers of its starts and exits."""
    from launch.actions import RegisterEventHandler
    from launch.event_handlers import OnProcessExit, OnProcessStart

    return [RegisterEventHandler(OnProcessStart(target_action=node, on_start=lambda _e, _c: exits.started(name))),
            RegisterEventHandler(OnProcessExit(target_action=node, on_exit=exit_handler(exits, name))),
            node]


def sigterm_timeout_argument():
    """The ``sigterm_timeout`` launch argument the trainer launch files pass their node."""
    from launch.actions import DeclareLaunchArgument

    return DeclareLaunchArgument("sigterm_timeout", default_value=SIGTERM_TIMEOUT_S,
                                 description="s from Ctrl-C (SIGINT) to SIGTERM: time for the trainer to finish its "
                                             "step and save a checkpoint")


@dataclass(frozen=True)
class Start:
    """A node a launch file starts: it reads the parameter file, then ``overrides``."""

    name: str
    executable: str
    overrides: dict[str, Any]
    respawn: bool
    trainer: bool  # given the launch's sigterm_timeout


def file_value(path: str, node: str, name: str) -> Any:
    """Parameter ``name`` of ``node`` in the ROS 2 parameter file ``path`` (the last entry for the node
    or a wildcard that sets it wins), or None."""
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    value = None
    for key, body in data.items():
        if key in (node, f"/{node}", "/**", "/*") and isinstance(body, dict):
            value = (body.get("ros__parameters") or {}).get(name, value)
    return value


def starts(graph: str, texts: Mapping[str, str], params_file: Callable[[], str]) -> list[Start]:
    """The nodes ``graph``'s launch file starts, in order, from its arguments' ``texts`` (empty or
    missing: not given; ``record``: ``true`` or not); ``params_file`` gives the parameter file's
    path, read only where a launch argument does not decide the environment."""
    overrides: dict[str, dict[str, Any]] = {node: {} for node in GRAPHS[graph]}
    for arg, targets in graph_arguments(graph).items():
        text = texts.get(arg, "").strip()
        if text:
            value = argument_value(arg, text)
            for node, name in targets:
                overrides[node][name] = value
    record = texts.get("record") == "true"
    if record:
        for node, values in RECORDING.get(graph, {}).items():
            overrides[node].update(values)
    environment = None
    if graph in ENVIRONMENT:
        node = ENVIRONMENT[graph][0]
        environment = overrides[node].get("environment") or file_value(params_file(), node, "environment")
        if environment is not None:
            environment = argument_value("environment", str(environment))
    return [Start(node, EXECUTABLES[node], overrides[node], respawn=graph in WATCHED and node not in TRAINERS,
                  trainer=node in TRAINERS)
            for node in graph_nodes(graph, record, environment)]


def _params_file_help(graph: str) -> str:
    notes = {OPTIONAL.get(graph): "with record",
             **dict.fromkeys(ENVIRONMENT.get(graph, ("", ()))[1], "for environment graph")}
    nodes = ", ".join(f"{node} ({notes[node]})" if node in notes else node for node in GRAPHS[graph])
    return f"ROS 2 parameter file with the ros__parameters of {nodes}"


def declared_arguments(graph: str) -> list:
    """The ``DeclareLaunchArgument`` actions of ``graph``'s launch file."""
    from launch.actions import DeclareLaunchArgument
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare

    return [
        DeclareLaunchArgument(
            "params_file", default_value=PathJoinSubstitution([FindPackageShare("physgen"), "config",
                                                               PARAMS_FILES[graph]]),
            description=_params_file_help(graph)),
        *(DeclareLaunchArgument(name, default_value="",
                                description=f"{describe(name, graph)} (empty: the parameter file's)")
          for name in graph_arguments(graph)),
        *(DeclareLaunchArgument(name, default_value="", description=f"{text} (empty: {topic})")
          for name, (text, topic) in REMAPS.get(graph, {}).items()),
        *([DeclareLaunchArgument("record", default_value="false", choices=["true", "false"],
                                 description=f"also start the {OPTIONAL[graph]} node")] if graph in OPTIONAL else []),
        *([sigterm_timeout_argument()] if any(node in TRAINERS for node in GRAPHS[graph]) else []),
    ]


def node_actions(context, graph: str) -> list:
    """``graph``'s nodes as launch_ros ``Node`` actions (with :func:`watched`'s handlers in a watched
    graph), for the launch arguments in ``context``."""
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    def text(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    params_file = LaunchConfiguration("params_file")
    names = [*graph_arguments(graph), *(["record"] if graph in OPTIONAL else [])]
    plan = starts(graph, {name: text(name) for name in names}, lambda: params_file.perform(context))
    common: dict[str, Any] = {}
    if graph in REMAPS:
        remappings = [(topic, text(arg).strip()) for arg, (_, topic) in REMAPS[graph].items()]
        common["remappings"] = [(src, dst) for src, dst in remappings if dst]
    exits = Exits(ending=ending(graph))
    actions: list = []
    for start in plan:
        kwargs = dict(common)
        if start.respawn:  # killed mid-episode: that episode fails, the node returns
            kwargs.update(respawn=True, respawn_delay=RESPAWN_DELAY_S)
        if start.trainer:
            kwargs["sigterm_timeout"] = LaunchConfiguration("sigterm_timeout")
        node = Node(package="physgen", executable=start.executable, name=start.name, output="screen",
                    parameters=[params_file, *([start.overrides] if start.overrides else [])], **kwargs)
        actions += watched(exits, start.name, node) if graph in WATCHED else [node]
    return actions


def launch_description(graph: str):
    """``launch/<graph>.launch.py``'s ``LaunchDescription``: :func:`declared_arguments`, then the nodes
    (:func:`node_actions`, built when launched)."""
    from launch.actions import OpaqueFunction
    from launch.launch_description import LaunchDescription

    return LaunchDescription([*declared_arguments(graph), OpaqueFunction(function=node_actions, args=[graph])])
