"""``physgen bringup``: the node graph of a launch file, in one process, for machines without ROS 2 launch.

The graphs, their nodes and their launch arguments are :mod:`physgen_nodes.graphs`' (the launch files
read them there too). The nodes' parameters come from a ROS 2 parameter file (by default the graph's
in ``config/``), read as ``--params-file`` reads it: top-level keys are node names (``cell``,
``/cell``) or the wildcards ``/**`` and ``/*``, each holding ``ros__parameters``; nested mappings are
dotted names (``cell.physics.timestep``); where two entries set one parameter the later one wins, as
in rclpy. Then come the parameters the optional node brings (with ``--record``, the evaluation's
``wait_for_recorder``), the launch arguments (:data:`~physgen_nodes.graphs.ARGUMENTS`, the same names
as the launch file's) and ``--set node.param=value`` (the value is YAML, as in ``--ros-args -p``).
The grpo graph starts the cell and executor nodes only when the GRPO node's ``environment`` (from
all of those, else its default) is ``graph``.

A bad file, an unknown node, a parameter a node does not have, or a bad value is a
:class:`~physgen.config.ConfigError` naming it (``node.param``). All nodes spin in one
``SingleThreadedExecutor``. A graph with a node that runs one job and ends (:data:`~physgen_nodes.graphs.ENDING`: the
evaluation, SFT and GRPO nodes) ends when that node is done (its ``exit_code`` is returned) if its
``exit_when_done`` is true; bringup does that ending itself and runs the node with
``exit_when_done`` false, because the node's own way (shutting its context down) would destroy
every node of the shared context under callbacks still running. Ctrl-C (or SIGTERM) stops any graph
and destroys every node, the last started first (the recorder closes its bag); while a trainer's
job runs, the first Ctrl-C asks it to stop at the end of its step with a checkpoint and the graph
keeps spinning until it has (so the cell and executor still answer that step's episodes), a second
one stops at once.

Reading parameters needs no rclpy; :class:`Bringup` and :func:`run` do.
"""

from __future__ import annotations

import importlib
import signal
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from physgen.config import ConfigError
from physgen.resources import data_dir
from physgen_nodes.exits import INTERRUPTED
from physgen_nodes.graphs import (
    ARGUMENTS,
    ENDING,
    ENVIRONMENT,
    EXECUTABLES,
    GRAPHS,
    NODES,
    OPTIONAL,
    PARAMS_FILES,
    RECORDING,
    argument_value,
    default_environment,
    graph_arguments,
    graph_nodes,
    node_defaults,
)

WILDCARD = "/**"
_WILDCARDS = ("/**", "/*")

# (target, {dotted name: value}, strict): target is a node name or WILDCARD; a strict entry's
# names must all be parameters of its node (a wildcard entry sets only what a node has, as ROS does)
Entry = tuple[str, dict[str, Any], bool]


def default_params_file(graph: str) -> Path:
    check_graph(graph)
    return data_dir("config") / PARAMS_FILES[graph]


def check_graph(graph: str) -> None:
    if graph not in GRAPHS:
        raise ConfigError("graph", graph, f"one of {sorted(GRAPHS)}")


def graph_environment(graph: str, entries: Iterable[Entry]) -> str | None:
    """The ``environment`` parameter ``entries`` give the node that decides it in ``graph`` (else its
    default); None for a graph without that rule."""
    if graph not in ENVIRONMENT:
        return None
    environment = params_for(entries, ENVIRONMENT[graph][0])[0].get("environment")
    return str(environment) if environment is not None else default_environment(graph)


def node_of_key(key: Any, where: str) -> str:
    """A parameter file's top-level key as a node name, or :data:`WILDCARD`."""
    if key in _WILDCARDS:
        return WILDCARD
    name = key[1:] if isinstance(key, str) and key.startswith("/") else key
    if name not in NODES:
        raise ConfigError(f"{where}: node", key, f"a node name {sorted(NODES)} or the wildcard /**")
    return name


def flatten(mapping: Mapping[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    """Nested parameter mappings as dotted names; every leaf checked by :func:`ros_value`."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}.{prefix}".rstrip("."), key, "parameter names that are strings")
        if isinstance(value, Mapping):
            out.update(flatten(value, where, name + "."))
        else:
            out[name] = ros_value(f"{where}.{name}", value)
    return out


def ros_value(name: str, value: Any) -> Any:
    """``value`` as a ROS parameter value (bool, int, float, str, or a non-empty list of one of them);
    a list mixing ints and floats becomes floats. Anything else is a ConfigError naming ``name``."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = list(value)
        kinds = {bool if isinstance(v, bool) else type(v) for v in items}
        if kinds == {int, float}:
            return [float(v) for v in items]
        if len(kinds) == 1 and kinds <= {bool, int, float, str}:
            return items
        if not items:
            raise ConfigError(name, items, "a non-empty list (a ROS parameter cannot be an empty list)")
    raise ConfigError(name, value, "a ROS parameter value: bool, int, float, string, or a list of one of those")


def read_params(data: Any, where: str) -> list[Entry]:
    """A parameter file's parsed YAML as entries in file order."""
    if not isinstance(data, Mapping):
        raise ConfigError(where, data if data is None else type(data).__name__,
                          "a ROS 2 parameter file: a mapping of node names to {ros__parameters: ...}")
    entries: list[Entry] = []
    for key, body in data.items():
        target = node_of_key(key, where)
        if not isinstance(body, Mapping) or set(body) != {"ros__parameters"}:
            raise ConfigError(f"{where}: {key}", body, "a mapping with one key, ros__parameters")
        params = body["ros__parameters"]
        if not isinstance(params, Mapping):
            raise ConfigError(f"{where}: {key}.ros__parameters", params, "a mapping of parameter names to values")
        entries.append((target, flatten(params, f"{where}: {key}"), target != WILDCARD))
    return entries


def load_params(path: Path | str) -> list[Entry]:
    """Read a ROS 2 parameter YAML file (see the module's docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("params", str(path), "an existing ROS 2 parameter YAML file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError("params", str(path), f"valid YAML ({' '.join(str(e).split())})") from None
    return read_params(data, str(path))


def parse_set(text: str) -> Entry:
    """``node.param=value`` (value in YAML, as ``--ros-args -p name:=value`` takes it) as an entry."""
    target, sep, value = text.partition("=")
    node, dot, name = target.strip().partition(".")
    if not sep or not dot or not name or node not in NODES:
        raise ConfigError("--set", text, f"node.param=value with node one of {sorted(NODES)}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value  # not YAML: the text itself, as ROS does
    return node, {name: ros_value(target.strip(), parsed)}, True


def launch_argument_entries(arguments: Mapping[str, Any]) -> list[Entry]:
    """Launch arguments (:data:`~physgen_nodes.graphs.ARGUMENTS`, their values; None means not given)
    as entries."""
    entries: list[Entry] = []
    for arg, value in arguments.items():
        if arg not in ARGUMENTS:
            raise ConfigError("launch argument", arg, f"one of {sorted(ARGUMENTS)}")
        if value is None:
            continue
        for node, name in ARGUMENTS[arg].sets:
            entries.append((node, {name: ros_value(arg, value)}, True))
    return entries


def params_for(entries: Iterable[Entry], node: str) -> tuple[dict[str, Any], set[str]]:
    """``node``'s parameters from ``entries`` (later wins), and the names it must have."""
    params: dict[str, Any] = {}
    strict: set[str] = set()
    for target, values, must in entries:
        if target in (node, WILDCARD):
            params.update(values)
            if must:
                strict.update(values)
    return params, strict


def _not_started(graph: str, node: str, nodes: Sequence[str]) -> str:
    hint = ""
    if node == OPTIONAL.get(graph):
        hint = " (add --record for the recorder)"
    elif node in ENVIRONMENT.get(graph, ("", ()))[1]:
        hint = f" (add --environment graph for {' and '.join(ENVIRONMENT[graph][1])})"
    return f"a setting of a node the {graph} graph starts, {list(nodes)}; {node} is not one{hint}"


def check_targets(graph: str, entries: Iterable[Entry], nodes: Sequence[str], what: str) -> None:
    """Every strict entry in ``entries`` (``--set``) must set a node that ``graph`` starts."""
    for target, values, must in entries:
        if must and target not in nodes:
            raise ConfigError(what, f"{target}.{next(iter(values), '')}", _not_started(graph, target, nodes))


def check_arguments(graph: str, arguments: Mapping[str, Any], nodes: Sequence[str]) -> None:
    """Every launch argument given must be one of ``graph``'s and set only nodes it starts."""
    for arg, value in arguments.items():
        if value is None:
            continue
        targets = graph_arguments(graph).get(arg) or (ARGUMENTS[arg].sets if arg in ARGUMENTS else ())
        missing = [node for node, _ in targets if node not in nodes]
        if missing:
            raise ConfigError(arg, value, _not_started(graph, missing[0], nodes))


class Bringup:
    """The nodes of one graph, built with their parameters, in one ``SingleThreadedExecutor`` (see
    :mod:`physgen_nodes.runner` for why not a multi-threaded one)."""

    def __init__(self, graph: str, entries: Sequence[Entry], *, record: bool = False, context=None,
                 remaps: Sequence[str] = ()):
        from rclpy.executors import SingleThreadedExecutor

        self.graph = graph
        self.cli_args = [a for r in remaps for a in ("-r", check_remap(r))]
        self.context = context
        self.nodes: dict = {}
        # The ending node's exit_when_done is taken here: its own way (shutting the context down)
        # would destroy every node of this shared context under the callbacks still running; the
        # node runs with exit_when_done false and spin() returns when it is done.
        self.exit_when_done = True
        self.interrupted = threading.Event()  # set by interrupt(): spin() stops (see there)
        try:
            for name in graph_nodes(graph, record, graph_environment(graph, entries)):
                self.nodes[name] = self._make(name, entries)
        except BaseException:
            self.destroy()
            raise
        self.executor = SingleThreadedExecutor(context=context)
        for node in self.nodes.values():
            self.executor.add_node(node)

    def _make(self, name: str, entries: Sequence[Entry]):
        from rclpy.parameter import Parameter

        module, cls_name = NODES[name]
        cls = getattr(importlib.import_module(module), cls_name)
        params, strict = params_for(entries, name)
        if name in ENDING:  # ended by spin(), not by the node: see __init__
            self.exit_when_done = bool(params.get("exit_when_done", True))
            params = {**params, "exit_when_done": False}
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        try:
            node = cls(context=self.context, parameter_overrides=overrides,
                       cli_args=["--ros-args", *self.cli_args] if self.cli_args else None)
        except ConfigError as e:
            raise ConfigError(f"{name}.{e.name}", e.value, e.expected) from None
        unknown = sorted(k for k in strict if not node.has_parameter(k))
        if unknown:
            node.destroy_node()
            raise ConfigError(f"{name}.{unknown[0]}", params[unknown[0]], f"a parameter of the {name} node")
        return node

    @property
    def ending(self):
        """The graph's node that runs one job and ends (:data:`ENDING`), or None."""
        return next((self.nodes[n] for n in ENDING if n in self.nodes), None)

    def interrupt(self) -> None:
        """Ask :meth:`spin` to stop (thread- and signal-safe)."""
        self.interrupted.set()

    def spin(self) -> int:
        """Spin until the ending node is done (its exit code), or an interrupt: Ctrl-C (a
        KeyboardInterrupt) or :meth:`interrupt`. An interrupt while a trainer's job runs (a node with
        ``stop``) asks it to stop at the end of its step with a checkpoint and spins on until it has.
        After an interrupt: 0 for a graph without an ending node, its exit code if it was done before,
        else 130."""
        from rclpy.executors import ExternalShutdownException

        node = self.ending
        ends = node is not None and self.exit_when_done
        stopped = False  # asked the trainer to stop
        try:
            while self.executor.context.ok():
                self.executor.spin_once(timeout_sec=0.1)
                done = node is not None and node.done.is_set()
                if self.interrupted.is_set():
                    if done or not hasattr(node, "stop"):
                        break
                    if not stopped:
                        stopped = True
                        node.stop.set()
                        node.get_logger().info("interrupted: stopping at the end of this step with a checkpoint "
                                               "(interrupt again to stop the graph now)")
                elif ends and done:
                    return int(node.exit_code)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        if node is None:
            return 0
        return int(node.exit_code) if node.done.is_set() and not stopped else INTERRUPTED

    def destroy(self) -> None:
        """Stop spinning and destroy every node, the last started first. Idempotent."""
        executor = getattr(self, "executor", None)
        if executor is not None:
            executor.shutdown(timeout_sec=5.0)
        for node in reversed(list(self.nodes.values())):
            node.destroy_node()
        self.nodes.clear()


def check_remap(text: str) -> str:
    """``FROM:=TO`` (a topic remapping, as ``--ros-args -r`` takes it) or a ConfigError naming it."""
    src, sep, dst = text.partition(":=")
    if not sep or not src.strip() or not dst.strip() or " " in text:
        raise ConfigError("--remap", text, "FROM:=TO, e.g. camera/image_raw:=/camera/color/image_raw")
    return text


def supervised(graph: str, entries: Sequence[Entry], nodes: Sequence[str], remaps: Sequence[str]) -> int:
    """The graph's nodes each in its own process, restarted when they die (:mod:`physgen_nodes.supervise`);
    a respawned recorder repairs its bag and records on into the next part."""
    from physgen_nodes.supervise import Supervisor

    specs = {}
    for name in nodes:
        params, strict = params_for(entries, name)
        unknown = sorted(set(strict) - set(node_defaults(name)))
        if unknown:
            raise ConfigError(f"{name}.{unknown[0]}", params[unknown[0]], f"a parameter of the {name} node")
        specs[name] = (EXECUTABLES[name], params)
    supervisor = Supervisor(specs, next((n for n in nodes if n in ENDING), None), remaps)
    previous = {sig: signal.signal(sig, lambda *_: supervisor.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return supervisor.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(graph: str, params_file: Path | str | None = None, sets: Iterable[str] = (),
        arguments: Mapping[str, Any] | None = None, record: bool | None = None, remaps: Sequence[str] = (),
        supervise: bool = False) -> int:
    """``physgen bringup``: init rclpy, build ``graph``, spin it, shut down; the exit status.
    ``arguments`` are launch arguments, each its text (made a value as ``ros2 launch`` makes it:
    :func:`~physgen_nodes.graphs.argument_value`) or a value."""
    check_graph(graph)
    if record is not None and graph not in OPTIONAL:
        raise ConfigError("--record" if record else "--no-record", graph,
                          f"a graph with an optional recorder: {sorted(OPTIONAL)}")
    arguments = {arg: argument_value(arg, value) if isinstance(value, str) and arg in ARGUMENTS else value
                 for arg, value in (arguments or {}).items()}
    entries = load_params(params_file if params_file is not None else default_params_file(graph))
    given = launch_argument_entries(arguments)
    extra = [parse_set(s) for s in sets]
    nodes = graph_nodes(graph, bool(record), graph_environment(graph, [*entries, *given, *extra]))
    check_arguments(graph, arguments, nodes)
    check_targets(graph, extra, nodes, "--set")
    for r in remaps:
        check_remap(r)
    if record:  # as the launch file does
        entries += [(node, dict(values), True) for node, values in RECORDING.get(graph, {}).items()]
    entries += given + extra
    if supervise:
        return supervised(graph, entries, nodes, remaps)

    import rclpy
    from rclpy.signals import SignalHandlerOptions

    # Ctrl-C and SIGTERM are handled here, not by rclpy (whose handlers shut the context down at
    # once): the first interrupts spin(), which lets a trainer finish its step on the live graph;
    # a second one, or one while the nodes are starting, is a KeyboardInterrupt.
    rclpy.init(args=["physgen"], signal_handler_options=SignalHandlerOptions.NO)  # no --ros-args from argv
    bringup = None

    def on_signal(signum, frame):
        if bringup is None or bringup.interrupted.is_set():
            raise KeyboardInterrupt
        bringup.interrupt()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        bringup = Bringup(graph, entries, record=bool(record), remaps=remaps)
        return bringup.spin()
    except KeyboardInterrupt:  # while the nodes were starting
        return INTERRUPTED
    finally:
        try:
            if bringup is not None:
                bringup.destroy()
            if rclpy.ok():
                rclpy.shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
