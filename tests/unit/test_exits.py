"""What a node's exit means for its run (physgen_nodes/exits.py): the rule `physgen bringup
--supervise` applies and the launch files apply through physgen_nodes/launching.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from physgen_nodes.exits import BAD_START, MAX_QUICK_DEATHS, START_S, Exits
from physgen_nodes.launching import NodeFailed, exit_handler


class FakeClock:
    """A clock the test moves by hand (a fake: no time passes otherwise)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_ending_nodes_success_ends_the_run_with_0_and_its_failure_with_its_status():
    exits = Exits(ending="evaluation")
    assert (exits.exited("evaluation", 0).action, exits.exited("evaluation", 0).status) == ("end", 0)
    failed = exits.exited("evaluation", 1)
    assert (failed.action, failed.status) == ("end", 1) and "status 1" in failed.message


@pytest.mark.parametrize("name", ["evaluation", "cell", "vlm", "recorder"])
def test_status_2_is_a_failed_start_and_is_never_restarted(name):
    verdict = Exits(ending="evaluation").exited(name, BAD_START)
    assert (verdict.action, verdict.status) == ("end", 2) and "not restarted" in verdict.message


def test_a_killed_node_is_restarted_the_ending_one_too():
    clock = FakeClock()
    exits = Exits(ending="evaluation", clock=clock)
    for name in ("evaluation", "cell"):
        exits.started(name)
        clock.now += START_S + 1  # it ran a while
        verdict = exits.exited(name, -9)
        assert verdict.action == "restart" and "killed by signal 9" in verdict.message
    assert exits.restarts == {"evaluation": 1, "cell": 1}
    assert exits.exited("cell", 1).action == "restart"  # a crash mid-run of a node that serves others


def test_a_node_that_keeps_dying_at_start_is_not_restarted_forever():
    clock = FakeClock()
    exits = Exits(ending=None, clock=clock)
    verdicts = []
    for _ in range(MAX_QUICK_DEATHS):
        exits.started("executor")
        clock.now += 0.5
        verdicts.append(exits.exited("executor", -11))
    assert [v.action for v in verdicts] == ["restart"] * (MAX_QUICK_DEATHS - 1) + ["end"]
    assert verdicts[-1].status == 1 and "not restarted" in verdicts[-1].message
    exits = Exits(ending=None, clock=clock)
    for _ in range(MAX_QUICK_DEATHS + 2):  # deaths after a while each: always restarted
        exits.started("executor")
        clock.now += START_S + 1
        assert exits.exited("executor", -11).action == "restart"


def test_the_launch_handler_fails_the_launch_on_a_failure_and_leaves_a_restart_to_respawn():
    handler = exit_handler(Exits(ending="sft"), "sft")
    live = SimpleNamespace(is_shutdown=False)
    with pytest.raises(NodeFailed, match="the sft node failed at start"):
        handler(SimpleNamespace(returncode=2), live)
    with pytest.raises(NodeFailed, match="the sft node exited with status 1"):
        handler(SimpleNamespace(returncode=1), live)
    assert exit_handler(Exits(ending="evaluation"), "cell")(SimpleNamespace(returncode=-9), live) is None
    shutting_down = SimpleNamespace(is_shutdown=True)  # Ctrl-C: the nodes serving others stop, nothing to decide
    assert exit_handler(Exits(ending="sft"), "cell")(SimpleNamespace(returncode=-2), shutting_down) is None
    assert handler(SimpleNamespace(returncode=0), shutting_down) is None  # the job was done first
    with pytest.raises(NodeFailed, match="the sft node was stopped before its job was done"):
        handler(SimpleNamespace(returncode=130), shutting_down)  # a script must not read the launch as a success
