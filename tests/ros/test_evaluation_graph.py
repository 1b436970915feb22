"""The evaluation graph over real DDS: cell, VLM (expert), executor and evaluation nodes run
episodes end to end; for a deterministic policy the records equal the in-process ones."""

from __future__ import annotations

import json

from ros_helpers import executor, spin_until

from physgen.evaluation.run import PolicySpec, evaluate_resumable

TASKS = ("stability", "shift")


def comparable(record: dict) -> dict:
    """Everything but the wall-clock latencies."""
    return {k: v for k, v in json.loads(json.dumps(record)).items() if k != "latency"}


def graph(ctx, out_dir, tasks=TASKS, episodes=2, with_vlm=True, policy="", **timeouts):
    from rclpy.parameter import Parameter

    from physgen_nodes.cell_node import CellNode
    from physgen_nodes.evaluation_node import EvaluationNode
    from physgen_nodes.executor_node import ExecutorNode
    from physgen_nodes.vlm_node import VLMNode

    nodes = [CellNode(context=ctx, parameter_overrides=[Parameter("rate_hz", value=5.0)]), ExecutorNode(context=ctx)]
    if with_vlm:
        nodes.append(VLMNode(context=ctx, parameter_overrides=[Parameter("policy", value="expert")]))
    params = [Parameter("tasks", value=list(tasks)), Parameter("episodes", value=episodes),
              Parameter("seed", value=0), Parameter("out_dir", value=str(out_dir)),
              Parameter("exit_when_done", value=False), Parameter("policy", value=policy)]
    params += [Parameter(f"timeouts.{k}", value=float(v)) for k, v in timeouts.items()]
    nodes.append(EvaluationNode(context=ctx, parameter_overrides=params))
    return nodes


def run_to_end(ctx, nodes, timeout: float = 600, extra=()):
    """Spin ``nodes`` (the evaluation node last) until the evaluation is done, then destroy them all;
    the evaluation node, which must have exited with status 0."""
    ex = executor(ctx, *nodes, *extra)
    try:
        assert spin_until(ex, nodes[-1].done.is_set, timeout=timeout)
    finally:
        ex.shutdown()
        for n in (*nodes, *extra):
            n.destroy_node()
    assert nodes[-1].exit_code == 0
    return nodes[-1]


def test_ros_episodes_equal_the_in_process_ones(ros_context, tmp_path):
    run_to_end(ros_context, graph(ros_context, tmp_path))
    over_ros = [json.loads(line) for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert len(over_ros) == 4 and all(r["success"] and not r["error"] for r in over_ros)
    assert any(m["primitive"] == "pick" for r in over_ros for m in r["motions"])  # the arm moved
    local = evaluate_resumable([PolicySpec.parse("expert")], list(TASKS), 2, 0, "train", tmp_path / "local")
    assert [comparable(r) for r in over_ros] == [comparable(r) for r in local]  # fingerprints and models too
    assert over_ros[0]["fingerprint"] and over_ros[0]["model"]["backend"] == "expert"
    report = json.loads((tmp_path / "report.json").read_text())
    assert {(r["task"], r["successes"], r["episodes"]) for r in report["results"]} == {(t, 2, 2) for t in TASKS}


def test_a_missing_vlm_node_times_out_each_episode_and_the_run_goes_on(ros_context, tmp_path):
    from rclpy.node import Node
    from std_msgs.msg import String

    nodes = graph(ros_context, tmp_path, tasks=("stability",), with_vlm=False, answer_s=0.5)
    # Something must subscribe to the instructions for the graph to look complete: a VLM node that
    # hangs (a fake: it never answers), as one that died mid-run would.
    fake_hung_vlm = Node("vlm", context=ros_context)
    fake_hung_vlm.create_subscription(String, "vlm/instruction", lambda _m: None, 10)
    fake_hung_vlm.create_publisher(String, "vlm/answer", 10)
    evaluation = run_to_end(ros_context, nodes, timeout=120, extra=(fake_hung_vlm,))
    records = [json.loads(line) for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert [(r["seed"], r["success"], r["error"]) for r in records] == [(0, False, "timeout_answer"),
                                                                        (1, False, "timeout_answer")]
    assert evaluation.client.failed_steps == 2
    results = json.loads((tmp_path / "report.json").read_text())["results"]
    assert results[0]["errors"] == 2 and results[0]["parse_failure_rate"] == 0.0



def test_a_stopped_run_resumes_without_running_or_counting_an_episode_twice(ros_context, tmp_path):
    log = tmp_path / "episodes.jsonl"

    def run(**kw):
        nodes = graph(ros_context, tmp_path, tasks=("stability",), episodes=3, **kw)
        return nodes[0], run_to_end(ros_context, nodes, timeout=300)

    run()
    whole = [comparable(json.loads(ln)) for ln in log.read_text().splitlines()]
    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0] + lines[1][:40])  # stopped after one episode, in the middle of the next line
    cell, evaluation = run()  # the label comes from the first answer: that episode runs, is not counted again
    assert cell.counts["judged"] == 3 and evaluation.resumed == 0
    assert [comparable(json.loads(ln)) for ln in log.read_text().splitlines()] == whole
    log.write_text("".join(lines[:2]))
    cell, evaluation = run(policy="expert")  # labelled: the recorded episodes are skipped
    assert cell.counts["judged"] == 1 and evaluation.resumed == 2
    assert [comparable(json.loads(ln)) for ln in log.read_text().splitlines()] == whole
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(r["episodes"], r["successes"]) for r in report["results"]] == [(3, 3)]


def test_a_cell_without_the_episodes_scene_refuses_to_judge_and_the_step_names_why(ros_context):
    """A cell restarted mid-episode no longer holds the scene: its refusal fails the episode as
    ``outcome_not_the_current_scene`` (not a timeout, not a silent outcome)."""
    import threading

    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from physgen.tasks import load_task
    from physgen_nodes.cell_node import CellNode
    from physgen_nodes.episode_client import EpisodeClient, StepFailed, Timeouts

    cell = CellNode(context=ros_context, parameter_overrides=[Parameter("rate_hz", value=5.0)])
    probe = Node("judge_probe", context=ros_context)
    client = EpisodeClient(probe, Timeouts(outcome_s=30.0), with_vlm=False)
    task = load_task("stability")
    inst = task.sample(0, "train")  # never reset into the cell
    got: list = []

    def act() -> None:
        try:
            client.act({"request_id": "r0", "task": "stability", "seed": 0, "split": "train"}, task, inst, "yes", 0)
        except StepFailed as e:
            got.append(e.error)

    ex = executor(ros_context, cell, probe)
    try:
        assert spin_until(ex, lambda: not {"cell/judge", "/cell/outcome"} & set(client.missing()), timeout=30)
        thread = threading.Thread(target=act)
        thread.start()
        assert spin_until(ex, lambda: not thread.is_alive(), timeout=60)
    finally:
        ex.shutdown()
        cell.destroy_node()
        probe.destroy_node()
    assert got == ["outcome_not_the_current_scene"] and cell.counts["rejected_judge"] == 1


def test_one_graph_serves_several_policies_and_splits_from_a_plan(ros_context, tmp_path):
    """The VLM node holds every policy at once and the evaluation node runs a plan (as each worker of
    ``physgen eval --via ros`` does): the same records as in-process; a label the VLM node does not
    serve fails its episode with the reason, never as a format failure."""
    from rclpy.parameter import Parameter

    from physgen.evaluation.shards import planned
    from physgen.evaluation.workers import write_plan
    from physgen_nodes.cell_node import CellNode
    from physgen_nodes.evaluation_node import EvaluationNode
    from physgen_nodes.executor_node import ExecutorNode
    from physgen_nodes.vlm_node import VLMNode

    specs = [PolicySpec.parse("a=expert"), PolicySpec.parse("b=chance")]
    items = [("train", "stability", 0), ("heldout", "shift", 1), ("train", "shift", 0)]
    write_plan(tmp_path / "plan.json", [*specs, PolicySpec.parse("zz=chance")], items, 0)
    nodes = [CellNode(context=ros_context, parameter_overrides=[Parameter("rate_hz", value=5.0)]),
             ExecutorNode(context=ros_context),
             VLMNode(context=ros_context, parameter_overrides=[Parameter("policies", value="a=expert, b=chance")]),
             EvaluationNode(context=ros_context, parameter_overrides=[
                 Parameter("plan", value=str(tmp_path / "plan.json")), Parameter("out_dir", value=str(tmp_path)),
                 Parameter("exit_when_done", value=False)])]
    run_to_end(ros_context, nodes)
    records = [json.loads(line) for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert [(r["policy"], r["task"], r["split"], r["seed"]) for r in records] == planned(
        [*specs, PolicySpec.parse("zz=chance")], items, 0)
    assert nodes[0].counts["frames"] == 0  # scripted policies only: no scene was drawn, none streamed
    unknown = [r for r in records if r["policy"] == "zz"]
    assert [r["error"] for r in unknown] == ["answer_unknown_policy"] * 3 and nodes[2].counts["unknown_policy"] == 3
    from physgen.evaluation.run import evaluate_items

    local = evaluate_items(specs, items, 0, tmp_path / "local")
    assert [comparable(r) for r in records if r["policy"] != "zz"] == \
        [comparable(local[(p.label, t, split, s)]) for split, t, s in items for p in specs]
