"""What the launch_testing tests share: skipping where ROS 2 launch or a built and sourced physgen is
missing, and listening on the launched graph until a node has published or exited."""

from __future__ import annotations

import json
import time

import pytest


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


def exited(proc_info, name: str) -> bool:
    try:
        proc_info.assertWaitForShutdown(process=name, timeout=0)
    except AssertionError:
        return False
    return True


def listen(proc_info, domain: int, topics: list[str], until: str, node: str, timeout: float) -> dict[str, list]:
    """JSON records on ``topics`` (std_msgs/String) until one arrives on ``until``, process ``node``
    exits, or ``timeout`` seconds pass."""
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
        while not got[until] and not exited(proc_info, node) and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
        executor.shutdown()
        probe.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    return got
