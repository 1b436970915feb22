"""The cell node alone, streaming camera frames and joint states.

    ros2 launch physgen cell.launch.py [params_file:=FILE]

``params_file`` defaults to the installed ``config/cell_node.yaml``. Without ROS 2 launch, the same
node with the same file: ``physgen bringup cell [--params FILE]``.
"""

from launch.launch_description import LaunchDescription

from physgen_nodes.launching import launch_description


def generate_launch_description() -> LaunchDescription:
    return launch_description("cell")
