"""The SFT node: one supervised fine-tuning job; the launch ends when it does.

    ros2 launch physgen sft.launch.py [task:=NAME] [model:=RECIPE|DIR] [out:=DIR] [steps:=N] \\
        [params_file:=FILE]

The node reads ``params_file`` (default: the installed ``config/sft.yaml``); an argument left empty
keeps the file's value, a given one overrides it. The node publishes ``training/progress``,
``training/checkpoint`` and ``training/done``; when the job is done (``OUT/model`` written) the node
exits and the launch shuts down. On Ctrl-C the job saves a checkpoint at the end of its step and
stops (launched again with the same parameters it resumes from there): the node gets
``sigterm_timeout`` seconds for that (default 600 here) before SIGTERM.

Without ROS 2 launch, the same node in one process: ``physgen bringup sft`` with the same options
(``--task``, ``--model``, ``--out``, ``--steps``).
"""

from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

# s between Ctrl-C (SIGINT) and SIGTERM: time to finish the step and save a checkpoint. The launch
# configuration sigterm_timeout (`ros2 launch ... sigterm_timeout:=S`) overrides it.
TRAINER_SIGTERM_TIMEOUT = "600"

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

    sft = node("sft_node", "sft",
               sigterm_timeout=LaunchConfiguration("sigterm_timeout", default=TRAINER_SIGTERM_TIMEOUT))
    return [
        RegisterEventHandler(OnProcessExit(
            target_action=sft, on_exit=[EmitEvent(event=Shutdown(reason="the sft node exited"))])),
        sft,
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("physgen"), "config", "sft.yaml"]),
            description="ROS 2 parameter file with an `sft` entry (ros__parameters)"),
        *(DeclareLaunchArgument(arg, default_value="", description=f"{text} (empty: the parameter file's)")
          for arg, (text, _, _) in OVERRIDES.items()),
        OpaqueFunction(function=_graph),
    ])
