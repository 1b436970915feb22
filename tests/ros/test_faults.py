"""Fault tolerance of the evaluation graph (`physgen bringup evaluation --supervise`: every node in a
process of its own, restarted when it dies): a node SIGKILLed mid-episode costs that episode, which
is recorded as failed with the step that timed out; the node comes back, the run goes on to exit 0,
no episode is lost or counted twice, and the bags stay readable. A killed evaluation node comes back
and resumes from its log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ros_helpers import executor, process_env, spin_until

STEP_S = 6.0  # every step's timeout where a node dies on an episode's path: a lost reply fails it this fast
EPISODES = 6  # per task: the run outlasts the probe's discovery of the graph (episodes now take well under 1 s)
CALM_STEP_S = 60.0  # where none should fail: a node restarting beside the run loads the machine, not the episode


def child_pid(parent: int, module: str) -> int | None:
    """The pid of ``parent``'s child running ``physgen node MODULE`` (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"node" in cmd and module.encode() in cmd:
            return int(entry.name)
    return None


def run_and_kill(ctx, tmp_path: Path, tasks: str, module: str, trigger: str, *extra: str,
                 step_s: float = STEP_S) -> tuple[list[dict], str]:
    """Run the supervised evaluation graph (expert, EPISODES per task, recorded, each step timing
    out after ``step_s``); SIGKILL the ``module`` node as the first message on ``trigger`` is seen;
    the records and the run's stderr."""
    from rclpy.node import Node
    from std_msgs.msg import String

    cmd = [sys.executable, "-m", "physgen.cli", "bringup", "evaluation", "--supervise", "--policy", "expert",
           "--tasks", tasks, "--episodes", str(EPISODES), "--out-dir", str(tmp_path / "out"), "--record",
           "--bag", str(tmp_path / "bag"), *extra]
    for step in ("reset_s", "answer_s", "execution_s", "outcome_s"):
        cmd += ["--set", f"evaluation.timeouts.{step}={step_s}"]
    proc = subprocess.Popen(cmd, env=process_env(ctx.get_domain_id()), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    probe = Node("fault_probe", context=ctx)
    seen = []
    probe.create_subscription(String, trigger, lambda m: seen.append(time.monotonic()), 10)
    ex = executor(ctx, probe)
    killed = None
    try:
        if not spin_until(ex, lambda: bool(seen) or proc.poll() is not None, timeout=180) or not seen:
            proc.kill()
            raise AssertionError(f"the trigger never came; the graph's stderr:\n{proc.communicate()[1][-3000:]}")
        killed = child_pid(proc.pid, module)
        assert killed is not None, f"no {module} process"
        os.kill(killed, signal.SIGKILL)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        ex.shutdown()
        probe.destroy_node()
    assert proc.returncode == 0, err[-3000:]
    assert "restarting it" in err, err[-3000:]
    records = [json.loads(line) for line in (tmp_path / "out" / "episodes.jsonl").read_text().splitlines()]
    return records, err


def _every_episode_once(records: list[dict], tasks: str) -> None:
    keys = [(r["task"], r["seed"]) for r in records]
    assert sorted(keys) == sorted((t, s) for t in tasks.split(",") for s in range(EPISODES))  # none lost, none twice


@pytest.mark.slow
@pytest.mark.parametrize(("module", "trigger", "tasks", "reason"), [
    ("vlm_node", "vlm/instruction", "placement,stability", "timeout_answer"),  # killed while it thinks
    ("executor_node", "executor/command", "shift,stability", "timeout_execution"),  # killed while the arm moves
    ("cell_node", "cell/judge", "placement,stability", "timeout_outcome"),  # killed while the physics settles
], ids=["vlm", "executor", "cell"])
def test_a_node_killed_mid_episode_costs_that_episode_and_comes_back(ros_context, tmp_path, module, trigger, tasks,
                                                                     reason):
    from physgen.recording.bag import bag_info

    records, _ = run_and_kill(ros_context, tmp_path, tasks, module, trigger)
    _every_episode_once(records, tasks)
    failed = [r for r in records if r.get("error")]
    assert failed and failed[0]["error"] == reason and not failed[0]["success"]
    assert records[-1]["success"] and not records[-1].get("error")  # it came back: the last episode ran
    assert bag_info(tmp_path / "bag")["topics"]["/evaluation/episode"]["count"] == len(records)


@pytest.mark.slow
def test_a_killed_evaluation_node_comes_back_and_resumes_every_episode_once(ros_context, tmp_path):
    from physgen.recording.bag import bag_info

    tasks = "shift,stability"
    records, err = run_and_kill(ros_context, tmp_path, tasks, "evaluation_node", "evaluation/episode",
                                step_s=CALM_STEP_S)
    assert "the evaluation node was killed by signal 9; restarting it" in err, err[-3000:]
    _every_episode_once(records, tasks)
    assert all(r["success"] and not r.get("error") for r in records)  # the killed node's episode ran again, whole
    assert bag_info(tmp_path / "bag")["topics"]["/evaluation/episode"]["count"] == len(records)


@pytest.mark.slow
def test_a_killed_recorder_comes_back_and_both_bags_stay_readable(ros_context, tmp_path):
    from physgen.recording.bag import bag_info

    tasks = "shift,stability"  # arm motion: the run outlasts the recorder's restart
    # chunks of 10 messages: what the killed recorder wrote is on disk but for at most 10 messages
    records, _ = run_and_kill(ros_context, tmp_path, tasks, "recorder_node", "evaluation/episode",
                              "--set", "recorder.flush_every=10", step_s=CALM_STEP_S)
    _every_episode_once(records, tasks)
    failed = [{k: r.get(k) for k in ("task", "seed", "error", "reason", "answer", "judgement")}
              for r in records if not r["success"]]
    assert failed == []  # the recorder is not on an episode's path
    first, second = bag_info(tmp_path / "bag"), bag_info(tmp_path / "bag.part2")  # repaired, and the new part
    assert first["message_count"] > 0 and second["message_count"] > 0
