"""The GRPO node: one GRPO job with the physics in the loop; the launch ends when it does. With
``environment:=graph`` the launch also starts the cell and executor nodes, which execute and judge
every completion.

    ros2 launch physgen grpo.launch.py [task:=NAME] [model:=RECIPE|DIR] [out:=DIR] [steps:=N] \\
        [environment:=pool|graph] [reward_workers:=N] [mode:=one-step|multi-step] [params_file:=FILE]

Every node reads ``params_file`` (default: the installed ``config/grpo.yaml``); an argument left
empty keeps the file's value, a given one overrides it (``environment`` empty: the file's
``grpo.environment``, which also decides whether the cell and executor start). The GRPO node
publishes ``training/progress``, ``training/checkpoint`` and ``training/done``; when the job is done
(``OUT/model`` written) it exits and the launch shuts down with status 0; when a node fails (a bad
parameter, no model: its error is printed) the launch ends with status 1. On Ctrl-C the job saves a checkpoint at
the end of its step and stops (launched again with the same parameters it resumes from there): the
node gets ``sigterm_timeout`` seconds for that (default 600 here) before SIGTERM. With
``environment:=graph`` the cell and executor are respawned when they die (the completion under way is
tried again); on Ctrl-C they stop at once, so a step in progress then cannot finish
its episodes: the job resumes from its last saved checkpoint.

Without ROS 2 launch, the same graph in one process: ``physgen bringup grpo`` with the same options
(``--task``, ``--model``, ``--out``, ``--steps``, ``--environment``, ``--reward-workers``, ``--mode``).
With ``cells`` in the parameter file the node drives several cell and executor pairs at once, each
in its namespace, for example on another machine in the same ROS domain::

    ros2 run physgen cell_node --ros-args -r __ns:=/lab_b --params-file cell_node.yaml
    ros2 run physgen executor_node --ros-args -r __ns:=/lab_b
"""

import yaml
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from physgen_nodes.exits import RESPAWN_DELAY_S, Exits
from physgen_nodes.launching import sigterm_timeout_argument, watched

ENVIRONMENTS = ("pool", "graph")
DEFAULT_ENVIRONMENT = "pool"  # GRPONodeConfig.environment's default

# launch argument -> (description, how its text becomes a value, the (node, parameter)s it sets);
# physgen_nodes/bringup.py LAUNCH_ARGUMENTS says the same for `physgen bringup`.
OVERRIDES = {
    "task": ("a task name", str, (("grpo", "task"),)),
    "model": ("a model directory or recipe name (e.g. an SFT run's OUT/model)", str, (("grpo", "model"),)),
    "out": ("the run directory (log.jsonl, checkpoints/, then model/)", str, (("grpo", "out"),)),
    "steps": ("optimizer steps", int, (("grpo", "steps"),)),
    "environment": ("pool (reward worker processes) or graph (also start the cell and executor nodes)", str,
                    (("grpo", "environment"),)),
    "reward_workers": ("environment pool: reward worker processes (0: in the trainer's process)", int,
                       (("grpo", "reward_workers"),)),
    "mode": ("one-step (one answer per image) or multi-step (answers again after a failed attempt)", str,
             (("grpo", "mode"),)),
    "armed": ("false: the executor only previews its trajectories (a dry run)", lambda t: t.lower() == "true",
              (("executor", "armed"),)),
}


def _file_environment(path: str) -> str:
    """The ``environment`` the parameter file gives the grpo node (its last entry setting it wins)."""
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    environment = DEFAULT_ENVIRONMENT
    for key, body in data.items():
        if key in ("grpo", "/grpo", "/**", "/*") and isinstance(body, dict):
            environment = (body.get("ros__parameters") or {}).get("environment", environment)
    return str(environment)


def _graph(context):
    params: dict[str, dict] = {"cell": {}, "executor": {}, "grpo": {}}
    for arg, (_, convert, targets) in OVERRIDES.items():
        text = LaunchConfiguration(arg).perform(context).strip()
        if text:
            for node, name in targets:
                params[node][name] = convert(text)
    params_file = LaunchConfiguration("params_file")
    environment = params["grpo"].get("environment") or _file_environment(params_file.perform(context))
    if environment not in ENVIRONMENTS:
        raise RuntimeError(f"grpo.launch.py: environment={environment!r}: expected one of {ENVIRONMENTS}")

    def node(executable: str, name: str, **kwargs) -> Node:
        return Node(package="physgen", executable=executable, name=name, output="screen",
                    parameters=[params_file, *([params[name]] if params[name] else [])], **kwargs)

    exits = Exits(ending="grpo")

    def respawned(executable: str, name: str) -> list:
        return watched(exits, name, node(executable, name, respawn=True, respawn_delay=RESPAWN_DELAY_S))

    graph = [*respawned("cell_node", "cell"), *respawned("executor_node", "executor")] if environment == "graph" else []
    return [*graph,
            *watched(exits, "grpo", node("grpo_node", "grpo", sigterm_timeout=LaunchConfiguration("sigterm_timeout")))]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("physgen"), "config", "grpo.yaml"]),
            description="ROS 2 parameter file with entries for grpo (and cell, executor for environment graph)"),
        *(DeclareLaunchArgument(arg, default_value="", description=f"{text} (empty: the parameter file's)")
          for arg, (text, _, _) in OVERRIDES.items()),
        sigterm_timeout_argument(),
        OpaqueFunction(function=_graph),
    ])
