"""Nodes as separate processes (as `ros2 run` starts them), talking over real DDS on localhost."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ros_helpers import executor, interrupt, process_env, spin_until


def test_a_bad_parameter_exits_2_naming_it(ros_context):
    proc = subprocess.run([sys.executable, "-m", "physgen_nodes.cell_node", "--ros-args", "-p",
                           "cell.scene_camera.width:=8"], env=process_env(ros_context.get_domain_id()),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "cell.scene_camera.width=8" in proc.stderr and "Traceback" not in proc.stderr


def test_cell_node_process_streams_to_this_process_and_stops_cleanly(ros_context):
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from physgen_nodes.cell_node import IMAGE_QOS

    proc = subprocess.Popen([sys.executable, "-m", "physgen_nodes.cell_node", "--ros-args", "-p", "rate_hz:=10.0"],
                            env=process_env(ros_context.get_domain_id()), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    probe = Node("probe", context=ros_context)
    images = []
    probe.create_subscription(Image, "camera/image_raw", images.append, IMAGE_QOS)
    ex = executor(ros_context, probe)
    try:
        assert spin_until(ex, lambda: len(images) >= 3 or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, proc.stderr.read()
        assert images[-1].width == 224 and images[-1].encoding == "rgb8"
    finally:
        ex.shutdown()
        probe.destroy_node()
        err = interrupt(proc)
    assert proc.returncode == 0, err


def test_physgen_node_runs_a_node_like_ros2_run(ros_context):
    proc = subprocess.run([sys.executable, "-m", "physgen.cli", "node", "vlm_node", "--ros-args", "-p",
                           "policy:=vlm"], env=process_env(ros_context.get_domain_id()), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "model=''" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "physgen.cli", "node", "nope"],
                          env=process_env(ros_context.get_domain_id()), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "cell_node" in proc.stderr


def test_the_evaluation_graph_as_four_processes_ends_with_the_evaluation(ros_context, tmp_path):
    env = process_env(ros_context.get_domain_id())
    node = [sys.executable, "-m", "physgen.cli", "node"]
    servers = [subprocess.Popen([*node, name, "--ros-args", *args], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
               for name, args in (("cell_node", ["-p", "rate_hz:=5.0"]), ("vlm_node", ["-p", "policy:=chance"]),
                                  ("executor_node", []))]
    try:
        evaluation = subprocess.run(
            [*node, "evaluation_node", "--ros-args", "-p", "tasks:=[shift]", "-p", "episodes:=2",
             "-p", f"out_dir:={tmp_path}"], env=env, capture_output=True, text=True, timeout=600)
    finally:
        errors = [interrupt(p, timeout=60) for p in servers]
    assert evaluation.returncode == 0, evaluation.stderr
    assert all(p.returncode == 0 for p in servers), errors
    lines = (tmp_path / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 2 and (tmp_path / "report.json").is_file()
    assert "chance" in evaluation.stderr  # the summary table names the policy


@pytest.mark.slow
def test_sft_node_process_exits_0_when_its_job_is_done(ros_context, tmp_path):
    """exit_when_done: the job's thread shuts the context down, which destroys the node there."""
    from physgen.models.hub import offline
    from physgen.models.recipes import build_model, load_recipe

    offline()
    model = build_model(load_recipe("tiny-qwen2-vl"), tmp_path / "tiny", seed=0)
    params = {"task": "stability", "model": str(model), "out": str(tmp_path / "sft"), "steps": 1, "examples": 2,
              "batch_size": 2, "lora": "false", "sample_answers": 0}
    args = [a for k, v in params.items() for a in ("-p", f"{k}:={v}")]
    proc = subprocess.run([sys.executable, "-m", "physgen_nodes.sft_node", "--ros-args", *args],
                          env=process_env(ros_context.get_domain_id()),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert (tmp_path / "sft" / "model").is_dir()


def test_eval_via_ros_gives_the_in_process_records(ros_context, tmp_path):
    """`physgen eval --via ros` runs each policy through the evaluation graph: the records, their
    model descriptions and fingerprints equal the in-process run's; started again it runs nothing."""
    import json

    env = process_env(ros_context.get_domain_id())

    def run(out, *extra):
        cmd = [sys.executable, "-m", "physgen.cli", "eval", "--policy", "expert", "--policy", "guess=chance",
               "--tasks", "stability", "--episodes", "2", "--splits", "train,heldout", "--out", str(out), *extra]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return [{k: v for k, v in json.loads(ln).items() if k != "latency"}
                for ln in (out / "episodes.jsonl").read_text().splitlines()]

    local = run(tmp_path / "local")
    over_ros = run(tmp_path / "ros", "--via", "ros")
    key = ("policy", "split", "seed")
    assert sorted(over_ros, key=lambda r: [r[k] for k in key]) == sorted(local, key=lambda r: [r[k] for k in key])
    assert len(over_ros) == 8 and {r["policy"] for r in over_ros} == {"expert", "guess"}
    assert run(tmp_path / "ros", "--via", "ros") == over_ros  # resumed: nothing run or written again
    matrix = json.loads((tmp_path / "ros" / "matrix.json").read_text())
    assert matrix["rows"] == ["expert", "guess"] and len(matrix["cells"]) == 4


def test_a_named_executor_process_has_unique_node_names_and_its_estop_keeps_the_topic_remaps(ros_context):
    """launch's name= is `-r __node:=NAME`, which renames every node of a process: the e-stop node
    must still get a name of its own (else `ros2 param get /executor ...` may ask the wrong node)."""
    import time

    from rclpy.node import Node

    proc = subprocess.Popen([sys.executable, "-m", "physgen.cli", "node", "executor_node", "--ros-args",
                             "-r", "__node:=arm_exec", "-r", "estop:=/robot/estop"],
                            env=process_env(ros_context.get_domain_id()), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    probe = Node("names_probe", context=ros_context)
    ex = executor(ros_context, probe)

    def names() -> list[str]:
        return sorted(n for n, _ in probe.get_node_names_and_namespaces() if n != "names_probe")

    try:
        assert spin_until(ex, lambda: len(names()) >= 2 and probe.count_subscribers("/robot/estop") > 0
                          or proc.poll() is not None, timeout=60)
        time.sleep(0.5)
        ex.spin_once(timeout_sec=0.1)
        assert names() == ["arm_exec", "arm_exec_estop"]
        assert probe.count_subscribers("/robot/estop") == 1 and probe.count_subscribers("/estop") == 0
    finally:
        ex.shutdown()
        probe.destroy_node()
        err = interrupt(proc)
    assert proc.returncode == 0, err
    assert "not armed" not in err and "armed: trajectories go to" in err  # it says at start where its moves go


def test_a_trainer_without_its_model_exits_2_at_start(ros_context, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "physgen.cli", "node", "sft_node", "--ros-args",
                           "-p", "task:=shift", "-p", f"model:={tmp_path / 'nope'}", "-p", f"out:={tmp_path / 'out'}"],
                          env=process_env(ros_context.get_domain_id()), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "model=" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()  # no work before the check


def test_supervised_bringup_stops_when_a_node_fails_at_start_and_says_it_once(ros_context, tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = subprocess.run([sys.executable, "-m", "physgen.cli", "bringup", "evaluation", "--supervise", "--policy",
                           "vlm", "--tasks", "shift", "--episodes", "1", "--out-dir", str(tmp_path / "out")],
                          env={**process_env(ros_context.get_domain_id()), "TMPDIR": str(temp)}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert not list(temp.glob("physgen-bringup-*"))  # the nodes' parameter files are gone with the run
    assert proc.stderr.count("VLMNode: config model=''") == 1  # started once, never again
    assert "the vlm node failed at start (exit status 2, its error above); not restarted" in proc.stderr


def test_a_node_process_ends_after_its_job_even_when_a_thread_would_hold_it(ros_context, tmp_path):
    """A node that ends its run while a library's non-daemon thread spins on (a fake node: the thread
    is the test's): Python would wait for that thread forever; the process still ends, with the
    node's status, within the runner's grace."""
    from physgen_nodes.runner import EXIT_GRACE_S

    script = tmp_path / "held.py"
    script.write_text(
        "import threading\n"
        "from rclpy.node import Node\n"
        "from physgen_nodes.runner import run_node\n"
        "class FakeDoneNode(Node):\n"
        "    def __init__(self):\n"
        "        super().__init__('fake_done')\n"
        "        self.exit_code = 3\n"
        "        threading.Thread(target=lambda: [None for _ in iter(int, 1)], name='spinner').start()\n"
        "        self.create_timer(0.2, self.context.try_shutdown)\n"
        "run_node(FakeDoneNode)\n")
    proc = subprocess.run([sys.executable, str(script)], env=process_env(ros_context.get_domain_id()),
                          capture_output=True, text=True, timeout=EXIT_GRACE_S + 60)
    assert proc.returncode == 3, proc.stderr
    assert "its process is still running" in proc.stderr and "spinner" in proc.stderr
