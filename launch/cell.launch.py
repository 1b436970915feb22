"""The cell node alone, streaming camera frames and joint states.

    ros2 launch physgen cell.launch.py [params_file:=FILE]

``params_file`` defaults to the installed ``config/cell_node.yaml``. Without ROS 2 launch, the same
node with the same file: ``physgen bringup cell [--params FILE]``.
"""

from launch.actions import DeclareLaunchArgument
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("physgen"), "config", "cell_node.yaml"]),
            description="ROS 2 parameter file with a `cell` entry (ros__parameters)"),
        Node(package="physgen", executable="cell_node", name="cell", output="screen",
             parameters=[LaunchConfiguration("params_file")]),
    ])
