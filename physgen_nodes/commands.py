"""The ROS 2 commands of ``physgen``: ``node`` (one node in this process, as ``ros2 run`` runs it) and
``bringup`` (a launch file's graph in one process). The ROS-free CLI finds :func:`add_commands`
through the entry point group ``physgen.commands`` (setup.py) and never imports this package."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path

import physgen_nodes
from physgen.config import ConfigError
from physgen_nodes import graphs


def add_commands(sub) -> None:
    """Add ``node`` and ``bringup`` to the ``physgen`` subparsers ``sub``."""
    s = sub.add_parser("node", help="run one ROS 2 node in this process, as `ros2 run physgen NAME` does",
                       description="Runs physgen_nodes.NAME; everything after NAME goes to the node "
                                   "(for example: --ros-args -p rate_hz:=5.0). Needs rclpy (the ros extra).")
    s.add_argument("name", help="a node module in physgen_nodes, e.g. cell_node, vlm_node")
    s.add_argument("node_args", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_node)

    files, ending = list(graphs.PARAMS_FILES.values()), [g for g in graphs.GRAPHS if graphs.ending(g)]
    s = sub.add_parser("bringup", help=f"run a launch file's node graph ({', '.join(graphs.GRAPHS)}) in this process",
                       description="Starts the nodes of launch/GRAPH.launch.py in one process (one rclpy "
                                   "SingleThreadedExecutor), with the parameters of a ROS 2 parameter file "
                                   f"(default: config/{', '.join(files[:-1])} or {files[-1]}), then the options "
                                   f"below, then --set. The {', '.join(ending[:-1])} and {ending[-1]} graphs end "
                                   "when their job is done, with its exit status; Ctrl-C stops any graph (a training "
                                   "job first finishes its step and saves a checkpoint: Ctrl-C again to stop at once). "
                                   "Needs rclpy (the ros extra).")
    s.add_argument("graph", choices=tuple(graphs.GRAPHS))
    s.add_argument("--params", type=Path, metavar="FILE", help="ROS 2 parameter YAML (ros__parameters per node)")
    s.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="repeatable; the value is YAML, as in --ros-args -p (e.g. --set cell.rate_hz=5.0)")
    s.add_argument("--record", action=argparse.BooleanOptionalAction, default=None,
                   help="; ".join(f"{g} graph: also start the {n}" for g, n in graphs.OPTIONAL.items())
                   + " (default: no)")
    s.add_argument("--supervise", action="store_true",
                   help="every node in a process of its own, restarted when it dies (launch's respawn); the "
                        "run goes on, a node killed mid-episode costs that episode, a restarted evaluation "
                        "resumes; a node failing at start (status 2) ends the run")
    s.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                   help="repeatable: a topic remapping for every node, as --ros-args -r (e.g. camera/image_raw:="
                        "/camera/color/image_raw joint_states:=/franka/joint_states)")
    g = s.add_argument_group("launch arguments", "as in `ros2 launch physgen GRAPH.launch.py NAME:=VALUE`; "
                                                 "each overrides the parameter file")
    for name, arg in graphs.ARGUMENTS.items():  # --NAME TEXT: bringup makes the text a value, as ros2 launch does
        option = "--" + name.replace("_", "-")
        if arg.convert is graphs.flag:
            g.add_argument(option, action=argparse.BooleanOptionalAction, default=None, help=graphs.describe(name))
        else:
            g.add_argument(option, choices=arg.allowed() or None, help=graphs.describe(name))
    s.set_defaults(func=cmd_bringup, launch_arguments=tuple(graphs.ARGUMENTS))


def node_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(physgen_nodes.__path__) if m.name.endswith("_node"))


def cmd_node(args) -> int:
    names = node_names()
    if args.name not in names:
        raise ConfigError("node", args.name, f"one of {names}")
    module = importlib.import_module(f"physgen_nodes.{args.name}")
    module.main([f"physgen_nodes.{args.name}", *args.node_args])
    return 0


def cmd_bringup(args) -> int:
    from physgen_nodes.bringup import run

    arguments = {name: getattr(args, name) for name in args.launch_arguments}  # text, a flag's bool, or None
    return run(args.graph, args.params, args.set, arguments, args.record, args.remap, args.supervise)
