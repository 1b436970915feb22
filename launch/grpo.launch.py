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

from launch.launch_description import LaunchDescription

from physgen_nodes.launching import launch_description


def generate_launch_description() -> LaunchDescription:
    return launch_description("grpo")
