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

from launch.launch_description import LaunchDescription

from physgen_nodes.launching import launch_description


def generate_launch_description() -> LaunchDescription:
    return launch_description("evaluation")
