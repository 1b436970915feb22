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

from launch.launch_description import LaunchDescription

from physgen_nodes.launching import launch_description


def generate_launch_description() -> LaunchDescription:
    return launch_description("sft")
