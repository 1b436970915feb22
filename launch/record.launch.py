"""The recorder node alone: records the topics of a running graph to a rosbag2 (MCAP) bag.

    ros2 launch physgen record.launch.py [bag:=DIR] [params_file:=FILE]

``params_file`` defaults to the installed ``config/record.yaml`` (the topics of the evaluation
graph); ``bag`` overrides its ``output``. A bag that exists is not overwritten: the recording goes
on in its next free ``<bag>.partN`` (printed at start; the recorder's ``existing: refuse`` fails
instead). Without ROS 2 launch:
``physgen bringup record [--bag DIR] [--params FILE]``.
"""

from launch.launch_description import LaunchDescription

from physgen_nodes.launching import launch_description


def generate_launch_description() -> LaunchDescription:
    return launch_description("record")
