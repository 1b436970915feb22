"""launch/evaluation.launch.py under launch_testing: the expert on one task, two episodes; the
evaluation publishes its summary, writes its records and exits, the launch shuts every node down,
and every process exits with status 0.

Runs where ROS 2 launch_testing is installed and physgen is built and sourced (`colcon build` in
ros2_ws/, then `source ros2_ws/install/setup.bash`): `launch_test tests/launch/test_evaluation_launch.py`
or pytest. Skipped elsewhere (launch_testing is not pip-installable).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip("launch_testing", reason="needs ROS 2 launch_testing (a ROS 2 install)")
pytest.importorskip("launch_ros", reason="needs ROS 2 launch_ros (a ROS 2 install)")


def _physgen_is_installed() -> bool:
    """The launch file finds the executables and parameter files in the ament index."""
    try:
        from ament_index_python.packages import get_package_share_directory

        get_package_share_directory("physgen")
    except (ImportError, LookupError, OSError):
        return False
    return True


if not _physgen_is_installed():
    pytest.skip("physgen is not in a sourced ROS 2 workspace (colcon build in ros2_ws/, then source "
                "ros2_ws/install/setup.bash)", allow_module_level=True)

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from launch.actions import IncludeLaunchDescription, SetEnvironmentVariable  # noqa: E402
from launch.launch_description import LaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "evaluation.launch.py"
TASK, EPISODES = "shift", 2  # an embodied task: the executor and the arm take part
# Its own DDS domain, on this host only (the launched nodes and this test's probe alike).
DOMAIN = random.Random(os.getpid()).randint(150, 200)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
OUT_DIR = Path(tempfile.mkdtemp(prefix="physgen-launch-test-"))
TIMEOUT_S = 600.0


@pytest.mark.launch_test
def generate_test_description():
    return LaunchDescription([
        SetEnvironmentVariable("ROS_DOMAIN_ID", str(DOMAIN)),
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(LAUNCH_FILE)), launch_arguments={
            "policy": "expert", "tasks": TASK, "episodes": str(EPISODES), "seed": "0", "split": "train",
            "out_dir": str(OUT_DIR)}.items()),
        launch_testing.actions.ReadyToTest(),
    ])


class TestEvaluationRuns(unittest.TestCase):
    def test_summary_is_published_and_the_records_written(self, proc_info):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from std_msgs.msg import String

        context = Context()
        rclpy.init(context=context, domain_id=DOMAIN)
        summaries = []
        try:
            probe = Node("launch_test_probe", context=context)
            probe.create_subscription(String, "evaluation/summary", lambda m: summaries.append(json.loads(m.data)), 10)
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(probe)
            end = time.monotonic() + TIMEOUT_S
            while not summaries and not _exited(proc_info, "evaluation_node") and time.monotonic() < end:
                executor.spin_once(timeout_sec=0.1)
            executor.shutdown()
            probe.destroy_node()
        finally:
            rclpy.shutdown(context=context)
        proc_info.assertWaitForShutdown(process="evaluation_node", timeout=TIMEOUT_S)
        records = [json.loads(line) for line in (OUT_DIR / "episodes.jsonl").read_text().splitlines()]
        assert [(r["task"], r["seed"]) for r in records] == [(TASK, s) for s in range(EPISODES)]
        assert all(r["success"] and not r["error"] for r in records), records
        assert (OUT_DIR / "report.json").is_file()
        assert summaries, "no evaluation/summary before the evaluation node exited"
        results = summaries[0]["results"]
        assert [(r["task"], r["episodes"], r["successes"]) for r in results] == [(TASK, EPISODES, EPISODES)]


def _exited(proc_info, name: str) -> bool:
    try:
        proc_info.assertWaitForShutdown(process=name, timeout=0)
    except AssertionError:
        return False
    return True


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_every_node_exits_with_status_0(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
