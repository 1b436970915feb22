"""Grippers driven by control_msgs actions (physgen_nodes/gripper_client.py, physgen/cell/gripper.py):
the finger opening maps onto the gripper's joint, each way the goal can end is a clear result, and a
stop cancels the goal. The action server here is a fake (no control_msgs wheel exists for pip);
tests/ros/test_gripper_action.py runs the real action types where control_msgs is installed."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from action_msgs.msg import GoalStatus
from rclpy.task import Future

from physgen.cell.gripper import GripperConfig
from physgen.config import ConfigError, build
from physgen_nodes.gripper_client import GripperClient, action_type

ROBOTIQ = GripperConfig(interface="gripper_command", action="robotiq_gripper_controller/gripper_cmd",
                        joint="robotiq_85_left_knuckle_joint", open_position=0.0, closed_position=0.8)


class FakeGripperCommand:
    """Stands in for control_msgs.action.GripperCommand: only the goal's shape."""

    @staticmethod
    def Goal():  # noqa: N802 - the action class's own name
        return SimpleNamespace(command=SimpleNamespace(position=0.0, max_effort=0.0))


class FakeActionClient:
    """A fake action client (test only): every goal is accepted (or not) and ends with ``status``
    after ``after`` s, or never (``status`` None); cancels are counted."""

    def __init__(self, status=GoalStatus.STATUS_SUCCEEDED, accepted=True, after=0.05, server=True):
        self.status, self.accepted, self.after, self.server = status, accepted, after, server
        self.goals, self.cancels = [], 0

    def wait_for_server(self, timeout_sec=None):
        return self.server

    def send_goal_async(self, goal):
        self.goals.append(goal)
        sent, result = Future(), Future()
        handle = SimpleNamespace(accepted=self.accepted, get_result_async=lambda: result,
                                 cancel_goal_async=self._cancel)
        threading.Timer(0.01, sent.set_result, (handle,)).start()
        if self.status is not None:
            threading.Timer(self.after, result.set_result, (SimpleNamespace(status=self.status),)).start()
        return sent

    def _cancel(self):
        self.cancels += 1
        return Future()


def client(fake: FakeActionClient, cfg: GripperConfig = ROBOTIQ) -> GripperClient:
    return GripperClient(cfg, 0.04, FakeGripperCommand, fake)


def test_the_finger_opening_maps_onto_the_grippers_joint():
    assert ROBOTIQ.position(0.04, 0.04) == pytest.approx(0.0)  # open
    assert ROBOTIQ.position(0.0, 0.04) == pytest.approx(0.8)  # closed
    assert ROBOTIQ.position(0.01, 0.04) == pytest.approx(0.6)
    for opening in (0.0, 0.013, 0.04):
        assert ROBOTIQ.opening(ROBOTIQ.position(opening, 0.04), 0.04) == pytest.approx(opening)
    goal = client(FakeActionClient()).goal(0.01)
    assert (goal.command.position, goal.command.max_effort) == (pytest.approx(0.6), 40.0)


def test_a_parallel_gripper_goal_is_a_joint_state_of_its_joint():
    cfg = GripperConfig(interface="parallel_gripper_command", action="gripper_controller/gripper_cmd",
                        joint="finger_joint", open_position=0.04, closed_position=0.0, max_effort=20.0)
    kind = SimpleNamespace(Goal=lambda: SimpleNamespace(command=None))
    goal = GripperClient(cfg, 0.04, kind, FakeActionClient()).goal(0.02)
    assert (list(goal.command.name), list(goal.command.position), list(goal.command.effort)) == (
        ["finger_joint"], [pytest.approx(0.02)], [20.0])


@pytest.mark.parametrize(("fake", "reason"), [
    (FakeActionClient(GoalStatus.STATUS_SUCCEEDED), ""),
    (FakeActionClient(GoalStatus.STATUS_ABORTED), ""),  # stalled on an object: the opening tells
    (FakeActionClient(GoalStatus.STATUS_CANCELED), "gripper_canceled"),
    (FakeActionClient(accepted=False), "gripper_rejected"),
    (FakeActionClient(server=False), "no_controller"),
    (FakeActionClient(status=None), "motion_timeout"),
])
def test_each_end_of_a_goal_is_a_clear_result(fake, reason):
    assert client(fake).run(0.0, timeout=1.0, stopped=lambda: "", period=0.01) == reason
    assert fake.cancels == (1 if reason == "motion_timeout" else 0)  # a goal timed out is canceled


def test_a_stop_cancels_the_running_goal():
    fake, t0 = FakeActionClient(status=None), time.monotonic()
    reason = client(fake).run(0.0, timeout=30.0, stopped=lambda: "estop" if time.monotonic() - t0 > 0.2 else "",
                              period=0.01)
    assert reason == "estop" and fake.cancels == 1


def test_bad_gripper_settings_fail_at_start_by_name():
    with pytest.raises(ConfigError, match="interface"):
        GripperConfig(interface="magnet")
    with pytest.raises(ConfigError, match="joint"):
        GripperConfig(interface="gripper_command")
    with pytest.raises(ConfigError, match="open_position"):
        GripperConfig(open_position=0.0, closed_position=0.0)
    assert build(GripperConfig, {"interface": "gripper_command", "joint": "j"}).by_action


def test_without_control_msgs_an_action_gripper_is_refused_by_name():
    try:
        import control_msgs  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="gripper.interface"):
            action_type("gripper_command")
    else:
        assert action_type("gripper_command").__name__ == "GripperCommand"
