"""The ``physgen`` command. ``physgen --help`` lists the subcommands."""

from __future__ import annotations

import argparse
import sys

from physgen.cli import bags, evaluate, experiments, models, scenes, train
from physgen.config import ConfigError

# module -> the extra that installs it (a missing one is named with its install command)
EXTRA_MODULES = {**dict.fromkeys(("torch", "transformers", "trl", "peft", "datasets", "accelerate", "tokenizers",
                                  "safetensors"), "vlm"),
                 **dict.fromkeys(("rclpy", "sensor_msgs", "std_msgs", "rcl_interfaces", "rosbags", "mcap"), "ros"),
                 **dict.fromkeys(("cv2", "matplotlib"), "report")}


COMMANDS = "physgen.commands"  # entry points: callables that add subcommands to the `physgen` parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["eval", "merge"]:  # a subcommand of eval, whose own arguments argparse cannot mix with it
        argv = ["eval-merge", *argv[2:]]
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"physgen: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        extra = EXTRA_MODULES.get((e.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"physgen: error: this command needs {e.name!r}, from the {extra} extra: pip install "
              f"'physgen[{extra}]' (in a checkout: .venv/bin/pip install -e '.[{extra}]'; with ROS 2 "
              "installed, source it instead of the ros extra)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("physgen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0

def _add_plugin_commands(sub) -> None:
    """Subcommands other packages contribute through the entry point group :data:`COMMANDS`
    (``physgen_nodes`` adds ``node`` and ``bringup``): the core never imports the ROS adapters."""
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=COMMANDS), key=lambda e: e.name):
        entry.load()(sub)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="physgen", description="Physics tasks for vision-language models in a "
                                "PyBullet robot cell: render, roll out policies, report.")
    sub = p.add_subparsers(dest="command", required=True)

    scenes.add(sub)
    models.add(sub)
    train.add(sub)
    _add_plugin_commands(sub)
    bags.add(sub)
    evaluate.add(sub)
    experiments.add(sub)
    return p

