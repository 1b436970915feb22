"""What the launch_testing tests share: skipping where ROS 2 launch or a built and sourced physgen is
missing, a DDS domain and a work directory of the test's own, and listening on the launched graph
until a node has published or exited."""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import pytest

DRAIN_S = 2.0  # after the node exited: messages already on their way still arrive
LINGER_S = DRAIN_S + 3.0
# The launch shuts down as soon as its ending node exits, and launch_testing fails a run whose launch
# stops before its active tests return: this process keeps the launch alive LINGER_S past the
# shutdown (it exits 0 that long after its SIGINT), for the test to drain, see the exit and finish.
LINGER = f"""\
import signal, sys, time
signal.signal(signal.SIGINT, lambda *_: (time.sleep({LINGER_S}), sys.exit(0)))
while True:
    time.sleep(1.0)
"""


def domain(salt: int) -> int:
    """A ROS domain for this test process: 1..101, the range ROS 2 documents as safe on Linux (0 is
    everyone's default)."""
    return random.Random(os.getpid() * 31 + salt).randint(1, 101)


def work_dir(prefix: str) -> Path:
    """A temporary directory, removed when the test process exits."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


def require_ros2_launch(*extra: str) -> None:
    """Skip the calling test module unless launch_testing, launch_ros (and ``extra`` modules) import
    and physgen is in a sourced ROS 2 workspace (its launch files find executables and parameters in
    the ament index). On a ROS 2 install after `colcon build` and sourcing, nothing is skipped."""
    for module in ("launch_testing", "launch_ros", *extra):
        pytest.importorskip(module, reason=f"needs {module} (ROS 2 launch, or the vlm extra)")
    try:
        from ament_index_python.packages import get_package_share_directory

        get_package_share_directory("physgen")
    except (ImportError, LookupError, OSError):
        pytest.skip("physgen is not in a sourced ROS 2 workspace (colcon build in ros2_ws/, then source "
                    "ros2_ws/install/setup.bash)", allow_module_level=True)


def linger():
    """The launch action of a process that keeps a test's launch alive past its shutdown (LINGER)."""
    import sys

    from launch.actions import ExecuteProcess

    return ExecuteProcess(cmd=[sys.executable, "-c", LINGER], name="linger", sigterm_timeout=str(LINGER_S + 5))


def exited(proc_info, name: str) -> bool:
    try:
        proc_info.assertWaitForShutdown(process=name, timeout=0)
    except AssertionError:
        return False
    return True


def listen(proc_info, domain: int, topics: list[str], until: str, node: str, timeout: float) -> dict[str, list]:
    """JSON records on ``topics`` (std_msgs/String) until one arrives on ``until``, or ``timeout``
    seconds pass; once process ``node`` has exited, for :data:`DRAIN_S` more at most (what it
    published before it exited is still taken)."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import String

    got: dict[str, list] = {t: [] for t in topics}
    context = Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        probe = Node("launch_test_probe", context=context)
        for t in topics:
            probe.create_subscription(String, t, lambda m, t=t: got[t].append(json.loads(m.data)), 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(probe)
        end = time.monotonic() + timeout
        while not got[until] and time.monotonic() < end:
            if exited(proc_info, node):
                end = min(end, time.monotonic() + DRAIN_S)
            executor.spin_once(timeout_sec=0.1)
        executor.shutdown()
        probe.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    return got
