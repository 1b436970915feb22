"""The recorder node alone: records the topics of a running graph to a rosbag2 (MCAP) bag.

    ros2 launch physgen record.launch.py [bag:=DIR] [params_file:=FILE]

``params_file`` defaults to the installed ``config/record.yaml`` (the topics of the evaluation
graph); ``bag`` overrides its ``output``. A bag that exists is not overwritten: the recording goes
on in its next free ``<bag>.partN`` (printed at start; the recorder's ``existing: refuse`` fails
instead). Without ROS 2 launch:
``physgen bringup record [--bag DIR] [--params FILE]``.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def _recorder(context):
    bag = LaunchConfiguration("bag").perform(context).strip()
    parameters = [LaunchConfiguration("params_file"), *([{"output": bag}] if bag else [])]
    return [Node(package="physgen", executable="recorder_node", name="recorder", output="screen",
                 parameters=parameters)]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("physgen"), "config", "record.yaml"]),
            description="ROS 2 parameter file with a `recorder` entry (ros__parameters)"),
        DeclareLaunchArgument("bag", default_value="", description="the bag directory to write (if it exists: the "
                                                                   "next free <bag>.partN); empty: the file's output"),
        OpaqueFunction(function=_recorder),
    ])
