"""launch/evaluation.launch.py under launch_testing: the expert on one task, two episodes, recorded;
the evaluation writes its records, publishes every episode and its summary into the bag, and exits,
the launch shuts every node down, and every process exits with status 0.

What was published is read from the bag, not from a subscriber in this process: the evaluation waits
for its recorder (``wait_for_recorder``) but not for a test's probe, which DDS discovery (periodic
announcements) sometimes did not match within a run this short (4 runs of 10).

Runs where ROS 2 launch_testing is installed and physgen is built and sourced (`colcon build` in
ros2_ws/, then `source ros2_ws/install/setup.bash`): `launch_test tests/launch/test_evaluation_launch.py`
or pytest. Skipped elsewhere (launch_testing is not pip-installable).
"""

from __future__ import annotations

import json
import os
import sys
import unittest
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # launch_support, under pytest and launch_test
from launch_support import domain, linger, require_ros2_launch, work_dir  # noqa: E402

require_ros2_launch()

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from launch.actions import IncludeLaunchDescription, SetEnvironmentVariable  # noqa: E402
from launch.launch_description import LaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "evaluation.launch.py"
TASK, EPISODES = "shift", 2  # an embodied task: the executor and the arm take part
# Its own DDS domain, on this host only (the launched nodes and this test's probe alike).
DOMAIN = domain(0)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
OUT_DIR = work_dir("physgen-launch-test-")
TIMEOUT_S = 600.0


@pytest.mark.launch_test
def generate_test_description():
    return LaunchDescription([
        SetEnvironmentVariable("ROS_DOMAIN_ID", str(DOMAIN)),
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(LAUNCH_FILE)), launch_arguments={
            "policy": "expert", "tasks": TASK, "episodes": str(EPISODES), "seed": "0", "split": "train",
            "out_dir": str(OUT_DIR), "record": "true", "bag": str(OUT_DIR / "bag")}.items()),
        linger(),
        launch_testing.actions.ReadyToTest(),
    ])


class TestEvaluationRuns(unittest.TestCase):
    def test_the_records_are_written_and_every_episode_and_the_summary_recorded(self, proc_info):
        proc_info.assertWaitForShutdown(process="evaluation_node", timeout=TIMEOUT_S)
        records = [json.loads(line) for line in (OUT_DIR / "episodes.jsonl").read_text().splitlines()]
        assert [(r["task"], r["seed"]) for r in records] == [(TASK, s) for s in range(EPISODES)]
        assert all(r["success"] and not r["error"] for r in records), records
        assert (OUT_DIR / "report.json").is_file()


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_every_node_exits_with_status_0(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)

    def test_the_bag_holds_every_episode_and_the_summary(self):
        from physgen.recording.bag import deserialize, read_bag

        got: dict[str, list] = {"/evaluation/episode": [], "/evaluation/summary": []}
        for topic, msgtype, _, raw in read_bag(OUT_DIR / "bag", topics=list(got)):
            got[topic].append(json.loads(deserialize(raw, msgtype).data))
        assert [(e["task"], e["seed"]) for e in got["/evaluation/episode"]] == [(TASK, s) for s in range(EPISODES)]
        assert len(got["/evaluation/summary"]) == 1
        results = got["/evaluation/summary"][0]["results"]
        assert [(r["task"], r["episodes"], r["successes"]) for r in results] == [(TASK, EPISODES, EPISODES)]
