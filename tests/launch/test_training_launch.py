"""launch/sft.launch.py under launch_testing: a tiny model, two steps; the SFT node publishes
training/done with its model, exits, the launch shuts down, and every process exits with status 0.

Runs where ROS 2 launch_testing is installed, physgen is built and sourced (`colcon build` in
ros2_ws/, then `source ros2_ws/install/setup.bash`) and the training dependencies (the vlm extra)
are importable: `launch_test tests/launch/test_training_launch.py` or pytest. Skipped elsewhere.
"""

from __future__ import annotations

import os
import sys
import unittest
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # launch_support, under pytest and launch_test
from launch_support import domain, linger, listen, require_ros2_launch, work_dir  # noqa: E402

require_ros2_launch("transformers")

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from launch.actions import IncludeLaunchDescription, SetEnvironmentVariable  # noqa: E402
from launch.launch_description import LaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "sft.launch.py"
STEPS = 2
# Its own DDS domain, on this host only (the launched node and this test's probe alike).
DOMAIN = domain(1)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
WORK = work_dir("physgen-training-launch-test-")
OUT = WORK / "sft"
TIMEOUT_S = 600.0
# small and fast: the launch arguments give task, model, out and steps, this file the rest
PARAMS = """\
sft:
  ros__parameters:
    examples: 4
    batch_size: 2
    lora: false
    logging_steps: 1
    sample_answers: 0
"""


@pytest.mark.launch_test
def generate_test_description():
    from physgen.models.hub import offline
    from physgen.models.recipes import build_model, load_recipe

    offline()
    model = build_model(load_recipe("tiny-qwen2-vl"), WORK / "tiny", seed=0)
    params = WORK / "params.yaml"
    params.write_text(PARAMS)
    return LaunchDescription([
        SetEnvironmentVariable("ROS_DOMAIN_ID", str(DOMAIN)),
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
        SetEnvironmentVariable("HF_HUB_OFFLINE", "1"),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(LAUNCH_FILE)), launch_arguments={
            "params_file": str(params), "task": "stability", "model": str(model), "out": str(OUT),
            "steps": str(STEPS)}.items()),
        linger(),
        launch_testing.actions.ReadyToTest(),
    ])


class TestTrainingRuns(unittest.TestCase):
    def test_done_is_published_and_the_model_written(self, proc_info):
        got = listen(proc_info, DOMAIN, ["training/done", "training/progress"], "training/done", "sft_node", TIMEOUT_S)
        done, progress = got["training/done"], got["training/progress"]
        proc_info.assertWaitForShutdown(process="sft_node", timeout=TIMEOUT_S)
        assert done, "no training/done before the sft node exited"
        assert done[0]["job"] == "sft" and done[0]["ok"], done
        assert Path(done[0]["model"]) == OUT / "model" and (OUT / "model").is_dir()
        assert progress and progress[0]["max_steps"] == STEPS


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_every_node_exits_with_status_0(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
