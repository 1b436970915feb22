"""A real arm: the VLM node and the executor, no cell. The robot's own driver brings the rest.

    ros2 launch physgen real_arm.launch.py params_file:=config/real_arm/franka_fr3.yaml \\
        camera_topic:=/camera/color/image_raw camera_info_topic:=/camera/color/camera_info \\
        [joint_states_topic:=/joint_states] [policy:=vlm model:=DIR] [armed:=true]

The executor plans on the arm's URDF (``arm.urdf``, its joint and link names: parameters), checks every
trajectory against the safety limits, and publishes ``trajectory_msgs/JointTrajectory`` on the arm's
and gripper's controller topics (``arm_topic``, ``gripper_topic``: ros2_controllers'
JointTrajectoryController); it reads ``joint_states`` and (watchdog) the camera's ``camera_info``.
The VLM node reads the camera. Topic arguments left empty keep the node's own names.

It starts unarmed: trajectories go only to ``<arm_topic>_preview`` (and the gripper's) until
``armed:=true``; the executor says which at start. A node that dies is respawned; one that fails at
start (exit status 2: a bad parameter, a URDF that does not fit, no model) is not, and the launch
ends with status 1 and the node's error (:mod:`physgen_nodes.exits`). ``std_msgs/Bool`` true on
``estop`` holds the arm and refuses commands until false.

Without ROS 2 launch: ``physgen bringup real_arm --params FILE --remap camera/image_raw:=... --armed``.
"""

from launch.launch_description import LaunchDescription

from physgen_nodes.launching import launch_description


def generate_launch_description() -> LaunchDescription:
    return launch_description("real_arm")
