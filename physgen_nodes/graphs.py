"""The node graphs, said once: their nodes, parameter files and launch arguments. ``launch/*.launch.py``
(through :mod:`physgen_nodes.launching`), ``physgen bringup`` (:mod:`physgen_nodes.bringup` and the
CLI's options) and ``setup.py`` (the node executables) all read them here.

Plain data and small functions: importing this module imports only the standard library (setup.py
runs it by path, before physgen is installed); what needs more (a node's config class, the task
names) is imported when called.

A new launch argument is one entry in :data:`ARGUMENTS` (the parameters it sets must exist in their
nodes' configs): every graph that starts one of those nodes takes it, as ``NAME:=TEXT`` in
``ros2 launch`` and as ``--NAME`` (``-`` for ``_``) in ``physgen bringup``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# node name -> (module, class); the module is also the executable (`ros2 run physgen cell_node`)
NODES: dict[str, tuple[str, str]] = {
    "cell": ("physgen_nodes.cell_node", "CellNode"),
    "vlm": ("physgen_nodes.vlm_node", "VLMNode"),
    "executor": ("physgen_nodes.executor_node", "ExecutorNode"),
    "recorder": ("physgen_nodes.recorder_node", "RecorderNode"),
    "evaluation": ("physgen_nodes.evaluation_node", "EvaluationNode"),
    "sft": ("physgen_nodes.sft_node", "SFTNode"),
    "grpo": ("physgen_nodes.grpo_node", "GRPONode"),
}
EXECUTABLES: dict[str, str] = {node: module.rsplit(".", 1)[1] for node, (module, _) in NODES.items()}
# node -> its parameters' config dataclasses: (module, class, parameter prefix)
NODE_CONFIGS: dict[str, list[tuple[str, str, str]]] = {
    "cell": [("physgen_nodes.cell_node", "StreamConfig", ""), ("physgen.cell.config", "CellConfig", "cell.")],
    "vlm": [("physgen_nodes.vlm_node", "VLMNodeConfig", "")],
    "executor": [("physgen_nodes.executor_node", "ExecutorNodeConfig", "")],
    "evaluation": [("physgen_nodes.evaluation_node", "EvaluationConfig", "")],
    "recorder": [("physgen_nodes.recorder_node", "RecorderConfig", "")],
    "sft": [("physgen.training.sft_config", "SFTRunConfig", ""), ("physgen_nodes.sft_node", "SFTNodeConfig", "")],
    "grpo": [("physgen.training.grpo_config", "GRPORunConfig", ""), ("physgen_nodes.grpo_node", "GRPONodeConfig", "")],
}
# graph (launch/<graph>.launch.py) -> its nodes in start order (the node that runs the job last, once
# everything it talks to is up)
GRAPHS: dict[str, tuple[str, ...]] = {
    "cell": ("cell",),
    "evaluation": ("cell", "vlm", "executor", "recorder", "evaluation"),
    "record": ("recorder",),
    "sft": ("sft",),
    "grpo": ("cell", "executor", "grpo"),
    "real_arm": ("vlm", "executor"),
}
# graph -> its default parameter file in config/ (installed to share/physgen/config)
PARAMS_FILES: dict[str, str] = {"cell": "cell_node.yaml", "evaluation": "evaluation.yaml", "record": "record.yaml",
                                "sft": "sft.yaml", "grpo": "grpo.yaml", "real_arm": "real_arm.yaml"}
# graph -> the node that `record` switches on and off (off unless asked for)
OPTIONAL: dict[str, str] = {"evaluation": "recorder"}
# graph -> {node: parameters} set when its optional node runs: the evaluation waits for the
# recorder, so that every episode is whole in the bag
RECORDING: dict[str, dict[str, dict[str, Any]]] = {"evaluation": {"evaluation": {"wait_for_recorder": True}}}
# graph -> (the node whose `environment` parameter decides, the nodes started only when it is "graph")
ENVIRONMENT: dict[str, tuple[str, tuple[str, ...]]] = {"grpo": ("grpo", ("cell", "executor"))}
# Nodes that run one job and end: attributes `done` (an Event) and `exit_code`, parameter
# exit_when_done (tests/unit/test_graphs.py checks the parameter). A graph has at most one.
ENDING: tuple[str, ...] = ("evaluation", "sft", "grpo")
# Nodes that on Ctrl-C finish their training step and save a checkpoint: a launch file gives them
# its sigterm_timeout, and does not respawn them.
TRAINERS: tuple[str, ...] = ("sft", "grpo")
# Graphs whose launch file applies physgen_nodes.exits' rule to every node (handlers on its start and
# exit) and respawns every node but a trainer; the other launch files start their one node plainly.
WATCHED: tuple[str, ...] = ("evaluation", "sft", "grpo", "real_arm")


def flag(text: str) -> bool:
    """``true`` (in any case) is true, any other text false."""
    return text.lower() == "true"


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("an integer") from None


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError("a positive integer")
    return value


def task_list(text: str) -> list[str]:
    """``all`` (every task), or comma-separated entries ``NAME`` or ``NAME:EPISODES``, checked."""
    from physgen.evaluation.plan import task_entries

    return task_entries(text)


def policies() -> tuple[str, ...]:
    from physgen.policy.factory import POLICIES

    return tuple(POLICIES)


def splits() -> tuple[str, ...]:
    from physgen.types import SPLITS

    return tuple(SPLITS)


def modes() -> tuple[str, ...]:
    from physgen.training.grpo_config import MODES

    return tuple(MODES)


@dataclass(frozen=True)
class Argument:
    """A launch argument: given (not empty), it overrides the parameter file's value of every
    parameter it sets in the graph it is given to."""

    help: str
    sets: tuple[tuple[str, str], ...]  # (node, parameter)
    convert: Callable[[str], Any] = str  # its text as the parameters' value; a ValueError says what it expected
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()  # the values allowed (none: any)

    def allowed(self) -> tuple[str, ...]:
        return self.choices() if callable(self.choices) else self.choices


# launch argument -> what it is and sets, in every graph (a graph takes those that set its nodes:
# graph_arguments), in the order the launch files declare them
ARGUMENTS: dict[str, Argument] = {
    "policy": Argument("expert, chance or vlm (expert needs the simulated scene); evaluation.policy labels the "
                       "records", (("vlm", "policy"), ("evaluation", "policy")), choices=policies),
    "task": Argument("a task name (sft also: captions)", (("sft", "task"), ("grpo", "task"))),
    "model": Argument("a model directory or recipe name (vlm: for policy vlm; grpo: e.g. an SFT run's OUT/model)",
                      (("vlm", "model"), ("sft", "model"), ("grpo", "model"))),
    "tasks": Argument("comma-separated task names (NAME:N: N episodes of that task), or all",
                      (("evaluation", "tasks"),), task_list),
    "episodes": Argument("episodes per task", (("evaluation", "episodes"),), positive),
    "seed": Argument("the policy's seed (evaluation.seed: the first scene seed)",
                     (("vlm", "seed"), ("evaluation", "seed")), integer),
    "split": Argument("the scenes' split, train or heldout (the held-out variants)", (("evaluation", "split"),),
                      choices=splits),
    "out_dir": Argument("where episodes.jsonl and the report go", (("evaluation", "out_dir"),)),
    "bag": Argument("the bag directory to write (if it exists: the next free BAG.partN); the evaluation graph "
                    "records only with record", (("recorder", "output"),)),
    "out": Argument("the run directory (checkpoints/, then model/; grpo also log.jsonl)",
                    (("sft", "out"), ("grpo", "out"))),
    "steps": Argument("optimizer steps", (("sft", "steps"), ("grpo", "steps")), positive),
    "environment": Argument("pool (reward worker processes) or graph (the cell and executor nodes, which the grpo "
                            "graph then starts too)", (("grpo", "environment"),), choices=("pool", "graph")),
    "reward_workers": Argument("environment pool: reward worker processes (0: in the trainer's process)",
                               (("grpo", "reward_workers"),), integer),
    "mode": Argument("one-step (one answer per image) or multi-step (answers again after a failed attempt)",
                     (("grpo", "mode"),), choices=modes),
    "armed": Argument("trajectories to the controllers (true), or previews only (false: a dry run)",
                      (("executor", "armed"),), flag),
}
# graph -> its launch arguments that remap a topic: argument -> (description, the topic as the nodes
# name it); `physgen bringup` takes any remapping (--remap FROM:=TO)
REMAPS: dict[str, dict[str, tuple[str, str]]] = {"real_arm": {
    "camera_topic": ("the driver's RGB image topic", "camera/image_raw"),
    "camera_info_topic": ("the driver's camera_info topic", "camera/camera_info"),
    "joint_states_topic": ("the driver's joint states topic", "joint_states"),
}}


def graph_arguments(graph: str) -> dict[str, tuple[tuple[str, str], ...]]:
    """The launch arguments of ``graph``'s launch file: those setting its nodes, with those parameters."""
    out = {}
    for name, arg in ARGUMENTS.items():
        mine = tuple((node, param) for node, param in arg.sets if node in GRAPHS[graph])
        if mine:
            out[name] = mine
    return out


def describe(name: str, graph: str | None = None) -> str:
    """Launch argument ``name``'s help, after the parameters it sets (in ``graph``, or in any graph)."""
    sets = graph_arguments(graph)[name] if graph is not None else ARGUMENTS[name].sets
    return f"{', '.join(f'{node}.{param}' for node, param in sets)}: {ARGUMENTS[name].help}"


def argument_value(name: str, text: str, check_choices: bool = True) -> Any:
    """Launch argument ``name``'s text as its parameters' value, or a ConfigError naming it."""
    from physgen.config import ConfigError

    arg = ARGUMENTS[name]
    try:
        value = arg.convert(text)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(name, text, str(e)) from None
    if check_choices and arg.allowed() and value not in arg.allowed():
        raise ConfigError(name, value, f"one of {list(arg.allowed())}")
    return value


def ending(graph: str) -> str | None:
    """The node of ``graph`` that runs one job and ends (:data:`ENDING`), or None."""
    return next((node for node in GRAPHS[graph] if node in ENDING), None)


def graph_nodes(graph: str, record: bool = False, environment: str | None = None) -> tuple[str, ...]:
    """The nodes ``graph`` starts: its optional node only with ``record``, its environment's nodes
    only with ``environment`` graph (None: the deciding node's default)."""
    if graph in ENVIRONMENT and environment is None:
        environment = default_environment(graph)
    optional = OPTIONAL.get(graph)
    env_nodes = ENVIRONMENT[graph][1] if graph in ENVIRONMENT and environment != "graph" else ()
    return tuple(n for n in GRAPHS[graph] if (n != optional or record) and n not in env_nodes)


def node_defaults(node: str) -> dict[str, Any]:
    """Every parameter of ``node`` (dotted names) with its default, from its config classes (this
    imports the node's module, and rclpy)."""
    from physgen_nodes.params import defaults

    return {name: value for module, cls, prefix in NODE_CONFIGS[node]
            for name, value in defaults(getattr(importlib.import_module(module), cls), prefix).items()}


def default_environment(graph: str) -> str:
    """The ``environment`` of ``graph``'s deciding node where nothing sets it: its config's default."""
    return str(node_defaults(ENVIRONMENT[graph][0])["environment"])
