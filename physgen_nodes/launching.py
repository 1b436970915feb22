"""What the launch files share (imported by them only: ROS 2 ``launch`` is imported inside the
functions, so this module loads where launch is not installed).

:func:`watched` gives a node action the handlers that apply :mod:`physgen_nodes.exits`' rule, the
one ``physgen bringup --supervise`` applies: the ending node's success ends the launch (status 0),
a failure ends it with status 1 (:class:`NodeFailed`, logged as "Caught exception in launch": ROS 2
launch's only non-zero status; the node's own status is in that line), and so does Ctrl-C before the
ending node's job was done; a node that failed at start is not respawned, any other death is left
to the action's ``respawn``.
"""

from __future__ import annotations

import sys

from physgen_nodes.exits import Exits

SIGTERM_TIMEOUT_S = "600"  # trainer nodes: s from Ctrl-C to SIGTERM, to finish the step and save a checkpoint


class NodeFailed(RuntimeError):
    """Raised from a process-exit handler: ``ros2 launch`` shuts down and exits with status 1."""


def exit_handler(exits: Exits, name: str):
    """An ``OnProcessExit`` callback for the node ``name``."""

    def on_exit(event, context):
        shutting_down = context is not None and context.is_shutdown  # Ctrl-C, or another node's verdict
        if shutting_down and (name != exits.ending or event.returncode <= 0):
            return None  # a node stopped by the shutdown: nothing to decide
        verdict = exits.exited(name, event.returncode)
        if verdict.action == "restart":
            print(f"[physgen] {verdict.message}", file=sys.stderr, flush=True)
            return None
        if verdict.status:
            raise NodeFailed(verdict.message)
        from launch.actions import EmitEvent
        from launch.events import Shutdown

        return [EmitEvent(event=Shutdown(reason=verdict.message))]

    return on_exit


def watched(exits: Exits, name: str, node) -> list:
    """``node`` (a launch_ros ``Node`` named ``name``) and the handlers of its starts and exits."""
    from launch.actions import RegisterEventHandler
    from launch.event_handlers import OnProcessExit, OnProcessStart

    return [RegisterEventHandler(OnProcessStart(target_action=node, on_start=lambda _e, _c: exits.started(name))),
            RegisterEventHandler(OnProcessExit(target_action=node, on_exit=exit_handler(exits, name))),
            node]


def sigterm_timeout_argument():
    """The ``sigterm_timeout`` launch argument the trainer launch files pass their node."""
    from launch.actions import DeclareLaunchArgument

    return DeclareLaunchArgument("sigterm_timeout", default_value=SIGTERM_TIMEOUT_S,
                                 description="s from Ctrl-C (SIGINT) to SIGTERM: time for the trainer to finish its "
                                             "step and save a checkpoint")
