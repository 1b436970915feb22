"""The SFT node: one supervised fine-tuning job; the launch ends when it does.

    ros2 launch physgen sft.launch.py [task:=NAME] [model:=RECIPE|DIR] [out:=DIR] [steps:=N] \\
        [params_file:=FILE]

The node reads ``params_file`` (default: the installed ``config/sft.yaml``); an argument left empty
keeps the file's value, a given one overrides it. The node publishes ``training/progress``,
``training/checkpoint`` and ``training/done``; when the job is done (``OUT/model`` written) the node
exits and the launch shuts down with status 0; when the node fails (a bad parameter, no model: its
error is printed) the launch ends with status 1. On Ctrl-C the job saves a checkpoint at the end of its step and
stops (launched again with the same parameters it resumes from there): the node gets
``sigterm_timeout`` seconds for that (default 600 here) before SIGTERM.

Without ROS 2 launch, the same node in one process: ``physgen bringup sft`` with the same options
(``--task``, ``--model``, ``--out``, ``--steps``).
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from physgen_nodes.exits import Exits
from physgen_nodes.launching import sigterm_timeout_argument, watched

# launch argument -> (description, how its text becomes a value, the (node, parameter)s it sets);
# physgen_nodes/bringup.py LAUNCH_ARGUMENTS says the same for `physgen bringup`.
OVERRIDES = {
    "task": ("a task name, or captions", str, (("sft", "task"),)),
    "model": ("a model directory or recipe name", str, (("sft", "model"),)),
    "out": ("the run directory (checkpoints/, then model/)", str, (("sft", "out"),)),
    "steps": ("optimizer steps", int, (("sft", "steps"),)),
}


def _graph(context):
    params: dict[str, dict] = {"sft": {}}
    for arg, (_, convert, targets) in OVERRIDES.items():
        text = LaunchConfiguration(arg).perform(context).strip()
        if text:
            for node, name in targets:
                params[node][name] = convert(text)

    def node(executable: str, name: str, **kwargs) -> Node:
        return Node(package="physgen", executable=executable, name=name, output="screen",
                    parameters=[LaunchConfiguration("params_file"), *([params[name]] if params[name] else [])],
                    **kwargs)

    return watched(Exits(ending="sft"), "sft",
                   node("sft_node", "sft", sigterm_timeout=LaunchConfiguration("sigterm_timeout")))


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("physgen"), "config", "sft.yaml"]),
            description="ROS 2 parameter file with an `sft` entry (ros__parameters)"),
        *(DeclareLaunchArgument(arg, default_value="", description=f"{text} (empty: the parameter file's)")
          for arg, (text, _, _) in OVERRIDES.items()),
        sigterm_timeout_argument(),
        OpaqueFunction(function=_graph),
    ])
