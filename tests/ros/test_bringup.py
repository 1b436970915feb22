"""`physgen bringup`: ROS 2 parameter files as node parameters, and the launch files' node graphs
run in one process over real DDS."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ros_helpers import executor, interrupt, process_env, spin_until

from physgen.config import ConfigError
from physgen_nodes import bringup, graphs
from physgen_nodes.bringup import (
    WILDCARD,
    Bringup,
    check_arguments,
    check_targets,
    default_params_file,
    graph_environment,
    launch_argument_entries,
    load_params,
    params_for,
    parse_set,
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(textwrap.dedent(text))
    return path


# -- the parameter file -> parameters (pure) ---------------------------------------------------

def test_nested_keys_become_dotted_names_and_later_entries_win_as_in_rclpy(tmp_path):
    entries = load_params(_write(tmp_path, """
        /**:
          ros__parameters:
            rate_hz: 5.0
            seed: 7
        /cell:
          ros__parameters:
            rate_hz: 20
            cell:
              physics: {timestep: 0.002}
              scene_camera: {eye: [1, 0.0, 0.5], width: 128}
        vlm:
          ros__parameters: {model: "", policy: chance}
        /*:
          ros__parameters: {frame_id: last}
    """))
    assert [(t, strict) for t, _, strict in entries] == [(WILDCARD, False), ("cell", True), ("vlm", True),
                                                          (WILDCARD, False)]
    cell, strict = params_for(entries, "cell")
    assert cell == {"rate_hz": 20, "seed": 7, "cell.physics.timestep": 0.002, "cell.scene_camera.eye": [1.0, 0.0, 0.5],
                    "cell.scene_camera.width": 128, "frame_id": "last"}
    assert isinstance(cell["cell.scene_camera.eye"][0], float)  # one type per list, as ROS wants
    assert strict == {"rate_hz", "cell.physics.timestep", "cell.scene_camera.eye", "cell.scene_camera.width"}
    assert params_for(entries, "vlm")[0] == {"rate_hz": 5.0, "seed": 7, "model": "", "policy": "chance",
                                             "frame_id": "last"}


@pytest.mark.parametrize(("text", "named"), [
    ("cell:\n  ros__parameters: {rate_hz: [}\n", "valid YAML"),
    ("- cell\n", "a ROS 2 parameter file"),
    ("camera:\n  ros__parameters: {rate_hz: 1.0}\n", "'camera'"),
    ("cell:\n  rate_hz: 1.0\n", "ros__parameters"),
    ("cell:\n  ros__parameters: [1]\n", "ros__parameters"),
    ("cell:\n  ros__parameters: {rate_hz: }\n", "cell.rate_hz"),
    ("recorder:\n  ros__parameters: {topics: []}\n", "recorder.topics"),
    ("recorder:\n  ros__parameters: {topics: [a, 1]}\n", "recorder.topics"),
])
def test_a_bad_file_is_a_config_error_naming_it(tmp_path, text, named):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_params(path)
    assert named in str(e.value) and (str(path) in str(e.value) or "params" in str(e.value))


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="params"):
        load_params(tmp_path / "nope.yaml")


def test_set_takes_yaml_values_as_ros_args_does():
    assert parse_set("cell.rate_hz=5") == ("cell", {"rate_hz": 5}, True)
    assert parse_set("cell.cell.physics.timestep=0.002") == ("cell", {"cell.physics.timestep": 0.002}, True)
    assert parse_set("evaluation.tasks=[stability, shift]") == ("evaluation", {"tasks": ["stability", "shift"]}, True)
    assert parse_set("vlm.model=") == ("vlm", {"model": ""}, True)
    assert parse_set("evaluation.exit_when_done=false") == ("evaluation", {"exit_when_done": False}, True)
    for bad in ("rate_hz=5", "cell.rate_hz", "camera.rate_hz=5", "cell.=1", "cell.topics=[]"):
        with pytest.raises(ConfigError):
            parse_set(bad)


def test_launch_arguments_set_the_parameters_the_launch_file_sets():
    entries = launch_argument_entries({"policy": "chance", "seed": 3, "tasks": ["shift"], "bag": None})
    assert params_for(entries, "vlm")[0] == {"policy": "chance", "seed": 3}
    assert params_for(entries, "evaluation")[0] == {"policy": "chance", "seed": 3, "tasks": ["shift"]}
    assert params_for(entries, "recorder")[0] == {}
    with pytest.raises(ConfigError, match="launch argument"):
        launch_argument_entries({"rate": 1})


def test_settings_for_a_node_the_graph_does_not_start_are_refused():
    nodes = graphs.graph_nodes("evaluation", record=False)
    assert "recorder" not in nodes and graphs.graph_nodes("evaluation", record=True)[-2] == "recorder"
    with pytest.raises(ConfigError, match=r"bag='b'.*recorder is not one \(add --record"):
        check_arguments("evaluation", {"bag": "b", "policy": None}, nodes)
    check_arguments("evaluation", {"bag": None, "policy": "chance", "seed": 1}, nodes)
    with pytest.raises(ConfigError, match=r"seed=1: expected a setting of a node the cell graph starts"):
        check_arguments("cell", {"seed": 1}, graphs.graph_nodes("cell"))
    with pytest.raises(ConfigError, match=r"--set='vlm.policy'.*cell graph"):
        check_targets("cell", [parse_set("vlm.policy=chance")], graphs.graph_nodes("cell"), "--set")
    with pytest.raises(ConfigError, match="--record"):
        bringup.run("cell", record=True)


def test_the_grpo_graph_starts_the_cell_and_executor_only_with_environment_graph():
    entries = load_params(default_params_file("grpo"))
    assert graph_environment("grpo", entries) == "pool"
    assert graphs.graph_nodes("grpo", environment=graph_environment("grpo", entries)) == ("grpo",)
    graph = entries + launch_argument_entries({"environment": "graph"})
    assert graphs.graph_nodes("grpo", environment=graph_environment("grpo", graph)) == ("cell", "executor", "grpo")
    assert graph_environment("grpo", graph + [parse_set("grpo.environment=pool")]) == "pool"  # --set wins
    with pytest.raises(ConfigError, match=r"cell is not one \(add --environment graph for cell and executor\)"):
        check_targets("grpo", [parse_set("cell.rate_hz=1.0")], graphs.graph_nodes("grpo"), "--set")


def test_a_launch_argument_sets_the_nodes_of_the_graph_it_is_given_to():
    check_arguments("sft", {"model": "m", "task": "shift", "out": "o", "steps": 2}, graphs.graph_nodes("sft"))
    check_arguments("evaluation", {"model": "m"}, graphs.graph_nodes("evaluation"))
    check_arguments("grpo", {"environment": "graph", "reward_workers": 0}, graphs.graph_nodes("grpo"))
    assert params_for(launch_argument_entries({"model": "m", "steps": 2}), "sft")[0] == {"model": "m", "steps": 2}
    with pytest.raises(ConfigError, match=r"environment='graph'.*sft graph"):
        check_arguments("sft", {"environment": "graph"}, graphs.graph_nodes("sft"))
    with pytest.raises(ConfigError, match=r"steps=2.*evaluation graph"):
        check_arguments("evaluation", {"steps": 2}, graphs.graph_nodes("evaluation"))


def test_every_graph_has_its_parameter_file():
    for graph in graphs.GRAPHS:
        entries = load_params(default_params_file(graph))
        assert {t for t, _, _ in entries} == set(graphs.GRAPHS[graph])
    with pytest.raises(ConfigError, match="graph"):
        default_params_file("camera")


# -- graphs over real DDS ----------------------------------------------------------------------

def test_cell_graph_in_process_streams_frames_with_the_files_parameters(ros_context, tmp_path):
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from physgen_nodes.cell_node import IMAGE_QOS

    entries = load_params(default_params_file("cell")) + [parse_set("cell.rate_hz=20.0"),
                                                          parse_set("cell.cell.scene_camera.width=96")]
    graph = Bringup("cell", entries, context=ros_context)
    probe = Node("probe", context=ros_context)
    images = []
    probe.create_subscription(Image, "camera/image_raw", images.append, IMAGE_QOS)
    graph.executor.add_node(probe)
    try:
        assert list(graph.nodes) == ["cell"]
        assert graph.nodes["cell"].get_parameter("rate_hz").value == 20.0
        assert spin_until(graph.executor, lambda: len(images) >= 3, timeout=60)
        assert (images[-1].width, images[-1].height, images[-1].encoding) == (96, 224, "rgb8")
    finally:
        graph.destroy()
        probe.destroy_node()


def test_a_bad_value_or_an_unknown_parameter_names_node_and_parameter(ros_context):
    entries = load_params(default_params_file("cell"))
    with pytest.raises(ConfigError, match=r"cell\.cell\.scene_camera\.width=8"):
        Bringup("cell", entries + [parse_set("cell.cell.scene_camera.width=8")], context=ros_context)
    with pytest.raises(ConfigError, match=r"cell\.rate=5.0: expected a parameter of the cell node"):
        Bringup("cell", entries + [parse_set("cell.rate=5.0")], context=ros_context)


def test_physgen_bringup_cell_streams_until_ctrl_c_and_exits_0(ros_context):
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from physgen_nodes.cell_node import IMAGE_QOS

    proc = subprocess.Popen([sys.executable, "-m", "physgen.cli", "bringup", "cell", "--set", "cell.rate_hz=10.0"],
                            env=process_env(ros_context.get_domain_id()), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    probe = Node("probe", context=ros_context)
    images = []
    probe.create_subscription(Image, "camera/image_raw", images.append, IMAGE_QOS)
    ex = executor(ros_context, probe)
    try:
        assert spin_until(ex, lambda: len(images) >= 3 or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, proc.communicate()[1]
    finally:
        ex.shutdown()
        probe.destroy_node()
        err = interrupt(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "never retrieved" not in err, err


def test_physgen_bringup_refuses_a_bad_setting_before_starting(ros_context):
    proc = subprocess.run([sys.executable, "-m", "physgen.cli", "bringup", "cell", "--set", "cell.rate_hz=-1.0"],
                          env=process_env(ros_context.get_domain_id()), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "cell.rate_hz=-1.0" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_physgen_bringup_evaluation_runs_every_episode_and_exits_0(ros_context, tmp_path):
    out = tmp_path / "eval"
    proc = subprocess.run([sys.executable, "-m", "physgen.cli", "bringup", "evaluation", "--policy", "expert",
                           "--tasks", "shift", "--episodes", "2", "--out-dir", str(out), "--record",
                           "--bag", str(tmp_path / "bag")],
                          env=process_env(ros_context.get_domain_id()), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "never retrieved" not in proc.stderr, proc.stderr[-3000:]
    records = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert [(r["task"], r["seed"], r["success"]) for r in records] == [("shift", 0, True), ("shift", 1, True)]
    assert any(m["primitive"] == "pick" for r in records for m in r["motions"])  # the arm moved, over ROS
    report = json.loads((out / "report.json").read_text())
    assert [(r["task"], r["successes"], r["episodes"]) for r in report["results"]] == [("shift", 2, 2)]
    from physgen.recording.bag import bag_info
    from physgen_nodes.episode_client import REPLIES, REQUESTS

    topics = bag_info(tmp_path / "bag")["topics"]  # the recorder ran and closed its bag
    assert topics["/camera/image_raw"]["count"] > 0
    # it recorded from before the first request to after the summary: every episode is whole in the bag
    assert {t: topics[f"/{t}"]["count"] for t in [*REQUESTS, *REPLIES, "evaluation/episode"]} == {
        t: 2 for t in [*REQUESTS, *REPLIES, "evaluation/episode"]}
    assert topics["/evaluation/summary"]["count"] == 1
    score = subprocess.run([sys.executable, "-m", "physgen.cli", "bag", "score", str(tmp_path / "bag")],
                           env=process_env(ros_context.get_domain_id()), capture_output=True, text=True, timeout=600)
    assert score.returncode == 0, score.stdout + score.stderr[-3000:]
    assert "executed again 2: 2 with the recorded reward and success; live summary: reproduced" in score.stdout

    from physgen.recording.export import export

    exported = export(tmp_path / "bag", tmp_path / "episodes.parquet")
    assert exported["episodes"] == 2 and exported["with_frame"] == 2 and exported["labels"] == {"success": 2}
    _the_exported_frames_are_what_the_policy_saw(tmp_path / "episodes.parquet")
    _the_lerobot_dataset_holds_every_episode(tmp_path / "bag", tmp_path / "lerobot", records)

    from physgen.policy.factory import make_policy
    from physgen.recording.replay import replay

    again = replay(tmp_path / "bag", make_policy("expert"), tmp_path / "replay.jsonl")
    assert again == {"episodes": 2, "replayed": 2, "same_answer": 2, "parse_failures": 0,
                     "recorded_parse_failures": 0}
    assert len((tmp_path / "replay.jsonl").read_text().splitlines()) == 2
    chance = replay(tmp_path / "bag", make_policy("chance", seed=1))
    assert chance["replayed"] == 2 and chance["parse_failures"] == 0


def _the_exported_frames_are_what_the_policy_saw(path):
    import io

    import numpy as np
    import pyarrow.parquet as pq
    from PIL import Image

    from physgen.cell.cell import RobotCell
    from physgen.evaluation.episode import begin
    from physgen.tasks import load_task

    table = pq.read_table(path).to_pylist()
    with RobotCell() as cell:
        for row in table:
            _, expected = begin(cell, load_task(row["task"]), row["seed"], row["split"])
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(row["image_png"]))), expected)
            assert row["prompt"] and row["raw"] and json.loads(row["answer"]) is not None


def _the_lerobot_dataset_holds_every_episode(bag, out, records):
    import datasets
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from physgen.cell.cell import RobotCell
    from physgen.evaluation.episode import begin
    from physgen.recording.export import export
    from physgen.tasks import load_task

    result = export(bag, out, "lerobot")
    assert result["episodes"] == 2 and result["labels"] == {"success": 2} and result["without_frames"] == 0
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 2
    feats = info["features"]

    def hf(f):  # the datasets feature LeRobot builds from an info.json entry
        if f["dtype"] == "image":
            return datasets.Image()
        return datasets.Value(f["dtype"]) if f["shape"] == [1] else datasets.Sequence(datasets.Value(f["dtype"]),
                                                                                       length=f["shape"][0])

    data = datasets.Dataset.from_parquet(str(out / "data" / "chunk-000" / "file-000.parquet"),
                                         features=datasets.Features({k: hf(f) for k, f in feats.items()}))
    assert len(data) == info["total_frames"] and data["index"] == list(range(len(data)))
    episodes = pq.read_table(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    tasks = pd.read_parquet(out / "meta" / "tasks.parquet")
    assert tasks.index.name == "task" and list(tasks["task_index"]) == list(range(len(tasks)))
    stats = json.loads((out / "meta" / "stats.json").read_text())
    assert np.asarray(stats["observation.images.scene"]["mean"]).shape == (3, 1, 1)
    assert len(stats["action"]["mean"]) == feats["action"]["shape"][0] == 9
    with RobotCell() as cell:
        for ep, rec in zip(episodes, records):
            rows = data.select(range(ep["dataset_from_index"], ep["dataset_to_index"]))
            assert rows["frame_index"] == list(range(ep["length"]))
            assert set(rows["episode_index"]) == {ep["episode_index"]}
            _, shown = begin(cell, load_task(rec["task"]), rec["seed"], rec["split"])
            assert np.array_equal(np.asarray(rows[0]["observation.images.scene"]), shown)  # what the policy saw
            assert tasks.index[rows[0]["task_index"]] == rec["prompt"] == ep["tasks"][0]
            assert rows["next.done"] == [False] * (ep["length"] - 1) + [True]
            assert rows[-1]["next.success"] is True and rows[-1]["next.reward"] == rec["reward"]
            assert rows[0]["answer"] == rec["raw"] and rows[0]["label"] == "success"
            assert rows[0]["observation.state"] != rows[-1]["observation.state"]  # the arm moved in between
            assert rows[-2]["action"] == rows[-1]["observation.state"]


# -- the trainer graphs ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from physgen.models.hub import offline
    from physgen.models.recipes import build_model, load_recipe

    offline()
    return build_model(load_recipe("tiny-qwen2-vl"), tmp_path_factory.mktemp("model") / "tiny", seed=0)


def _bringup(graph: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "physgen.cli", "bringup", graph, *args]


SFT_SMALL = ("--set", "sft.examples=4", "--set", "sft.batch_size=2", "--set", "sft.lora=false",
             "--set", "sft.logging_steps=1", "--set", "sft.sample_answers=0")


@pytest.mark.slow
def test_physgen_bringup_sft_trains_and_exits_0(ros_context, tiny_model, tmp_path):
    out = tmp_path / "sft"
    proc = subprocess.run(_bringup("sft", "--task", "stability", "--model", str(tiny_model), "--out", str(out),
                                   "--steps", "2", *SFT_SMALL),
                          env=process_env(ros_context.get_domain_id()),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert (out / "model").is_dir()


@pytest.mark.slow
def test_physgen_bringup_sft_ctrl_c_saves_a_checkpoint_and_exits_130(ros_context, tiny_model, tmp_path):
    from rclpy.node import Node
    from std_msgs.msg import String

    out = tmp_path / "sft"
    proc = subprocess.Popen(_bringup("sft", "--task", "stability", "--model", str(tiny_model), "--out", str(out),
                                     "--steps", "10000", *SFT_SMALL, "--set", "sft.save_steps=100000"),
                            env=process_env(ros_context.get_domain_id()),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    probe = Node("probe", context=ros_context)
    progress = []
    probe.create_subscription(String, "training/progress", lambda m: progress.append(json.loads(m.data)), 10)
    ex = executor(ros_context, probe)
    try:
        assert spin_until(ex, lambda: bool(progress) or proc.poll() is not None, timeout=300)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
    finally:
        ex.shutdown()
        probe.destroy_node()
        err = interrupt(proc, timeout=300)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    checkpoints = sorted((out / "checkpoints").glob("checkpoint-*"))  # saved where it stopped, not finished
    assert len(checkpoints) == 1 and not (out / "model").exists(), (checkpoints, err[-3000:])


@pytest.mark.slow
def test_physgen_bringup_grpo_on_the_graph_trains_and_exits_0(ros_context, tiny_model, tmp_path):
    out = tmp_path / "grpo"
    proc = subprocess.run(_bringup("grpo", "--task", "stability", "--model", str(tiny_model), "--out", str(out),
                                   "--steps", "1", "--environment", "graph", "--set", "grpo.num_generations=2",
                                   "--set", "grpo.examples=1", "--set", "grpo.max_completion_length=4",
                                   "--set", "cell.rate_hz=2.0"),
                          env=process_env(ros_context.get_domain_id()),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert (out / "model").is_dir()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["samples"], log  # one step, its completions judged on the graph
