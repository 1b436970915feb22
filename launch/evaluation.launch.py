"""The evaluation graph: cell, VLM, executor and evaluation nodes (and the recorder on request).

    ros2 launch physgen evaluation.launch.py [policy:=expert|chance|vlm] [model:=DIR] \\
        [tasks:=stability,shift] [episodes:=N] [seed:=S] [split:=train|heldout] [out_dir:=DIR] \\
        [record:=true] [bag:=DIR] [params_file:=FILE]

Every node reads ``params_file`` (default: the installed ``config/evaluation.yaml``); an argument
left empty keeps the file's value, a given one overrides it (``policy`` sets both ``vlm.policy`` and
the evaluation's policy label, ``seed`` both seeds, ``bag`` the recorder's ``output``). When the
evaluation node has run every episode (episodes.jsonl and the report are in ``out_dir``) the whole
launch shuts down with status 0; when it fails (an incomplete graph) with status 1. A node that dies
is respawned: the episode under way fails with the step that timed out, and the run goes on; a
respawned evaluation node resumes from its log, a respawned recorder repairs its bag and records on
in ``<bag>.part2``. A node that fails at start (a bad parameter, no model: exit status 2) is not
respawned: the launch ends with status 1 and the node's error. (:mod:`physgen_nodes.exits` is the
rule, shared with ``physgen bringup --supervise``.)

With ``record:=true`` and a ``bag`` that exists (a run started again, which resumes), the recording
goes on in the next free ``<bag>.partN``; the recorder prints the path it writes at start.

Without ROS 2 launch, the same graph in one process: ``physgen bringup evaluation`` with the same
options (``--policy``, ``--tasks``, ``--out-dir``, ``--record``, ...).
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from physgen_nodes.exits import RESPAWN_DELAY_S, Exits
from physgen_nodes.launching import watched


def _tasks(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


# launch argument -> (description, how its text becomes a value, the (node, parameter)s it sets);
# physgen_nodes/bringup.py LAUNCH_ARGUMENTS says the same for `physgen bringup`.
OVERRIDES = {
    "policy": ("expert, chance or vlm (also the policy label in the records)", str,
               (("vlm", "policy"), ("evaluation", "policy"))),
    "model": ("for policy vlm: a model directory or recipe name", str, (("vlm", "model"),)),
    "tasks": ("comma-separated task names", _tasks, (("evaluation", "tasks"),)),
    "episodes": ("episodes per task", int, (("evaluation", "episodes"),)),
    "seed": ("first scene seed, and the policy's seed", int, (("vlm", "seed"), ("evaluation", "seed"))),
    "split": ("train or heldout", str, (("evaluation", "split"),)),
    "out_dir": ("where episodes.jsonl and the report go", str, (("evaluation", "out_dir"),)),
    "bag": ("with record:=true, the bag directory to write (if it exists: the next free <bag>.partN)", str,
            (("recorder", "output"),)),
    "armed": ("false: the executor only previews its trajectories (a dry run)", lambda t: t.lower() == "true",
              (("executor", "armed"),)),
}


def _graph(context):
    params: dict[str, dict] = {"cell": {}, "vlm": {}, "executor": {}, "evaluation": {}, "recorder": {}}
    for arg, (_, convert, targets) in OVERRIDES.items():
        text = LaunchConfiguration(arg).perform(context).strip()
        if text:
            for node, name in targets:
                params[node][name] = convert(text)
    record = LaunchConfiguration("record").perform(context) == "true"
    if record:
        params["evaluation"]["wait_for_recorder"] = True  # every episode whole in the bag
    params_file = LaunchConfiguration("params_file")
    exits = Exits(ending="evaluation")

    def node(executable: str, name: str) -> list:  # killed mid-episode: that episode fails, it returns
        return watched(exits, name, Node(
            package="physgen", executable=executable, name=name, output="screen", respawn=True,
            respawn_delay=RESPAWN_DELAY_S, parameters=[params_file, *([params[name]] if params[name] else [])]))

    return [*node("cell_node", "cell"), *node("vlm_node", "vlm"), *node("executor_node", "executor"),
            *(node("recorder_node", "recorder") if record else []), *node("evaluation_node", "evaluation")]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("physgen"), "config", "evaluation.yaml"]),
            description="ROS 2 parameter file with entries for cell, vlm, executor, evaluation, recorder"),
        *(DeclareLaunchArgument(arg, default_value="", description=f"{text} (empty: the parameter file's)")
          for arg, (text, _, _) in OVERRIDES.items()),
        DeclareLaunchArgument("record", default_value="false", choices=["true", "false"],
                              description="also start the recorder node"),
        OpaqueFunction(function=_graph),
    ])
