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

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from physgen_nodes.exits import RESPAWN_DELAY_S, Exits
from physgen_nodes.launching import watched


def _flag(text: str) -> bool:
    return text.lower() == "true"


# launch argument -> (description, how its text becomes a value, the (node, parameter)s it sets);
# physgen_nodes/bringup.py LAUNCH_ARGUMENTS says the same for `physgen bringup`.
OVERRIDES = {
    "policy": ("chance or vlm (expert needs the simulated scene)", str, (("vlm", "policy"),)),
    "model": ("for policy vlm: a model directory or recipe name", str, (("vlm", "model"),)),
    "seed": ("the policy's seed", int, (("vlm", "seed"),)),
    "armed": ("true: trajectories to the controllers; false: previews only", _flag, (("executor", "armed"),)),
}
# launch argument -> the topic (as the nodes name it) it remaps
REMAPS = {
    "camera_topic": ("the driver's RGB image topic", "camera/image_raw"),
    "camera_info_topic": ("the driver's camera_info topic", "camera/camera_info"),
    "joint_states_topic": ("the driver's joint states topic", "joint_states"),
}


def _graph(context):
    params: dict[str, dict] = {"vlm": {}, "executor": {}}
    for arg, (_, convert, targets) in OVERRIDES.items():
        text = LaunchConfiguration(arg).perform(context).strip()
        if text:
            for node, name in targets:
                params[node][name] = convert(text)
    remappings = [(topic, LaunchConfiguration(arg).perform(context).strip()) for arg, (_, topic) in REMAPS.items()]
    remappings = [(src, dst) for src, dst in remappings if dst]
    params_file = LaunchConfiguration("params_file")

    exits = Exits(ending=None)

    def node(executable: str, name: str) -> list:
        return watched(exits, name, Node(
            package="physgen", executable=executable, name=name, output="screen", respawn=True,
            respawn_delay=RESPAWN_DELAY_S, remappings=remappings,
            parameters=[params_file, *([params[name]] if params[name] else [])]))

    return [*node("vlm_node", "vlm"), *node("executor_node", "executor")]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("physgen"), "config", "real_arm.yaml"]),
            description="ROS 2 parameter file with entries for vlm and executor (config/real_arm/*.yaml: examples)"),
        *(DeclareLaunchArgument(arg, default_value="", description=f"{text} (empty: the parameter file's)")
          for arg, (text, _, _) in OVERRIDES.items()),
        *(DeclareLaunchArgument(arg, default_value="", description=f"{text} (empty: {topic})")
          for arg, (text, topic) in REMAPS.items()),
        OpaqueFunction(function=_graph),
    ])
