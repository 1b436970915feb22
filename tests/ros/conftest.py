"""ROS tests: real rclpy nodes over real DDS, each test in its own ROS domain on localhost only.
Skipped where rclpy is not installed (install the `ros` extra, or source a ROS 2 install)."""

from __future__ import annotations

import os
import random

import pytest

rclpy = pytest.importorskip("rclpy")

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # never multicast beyond this host


@pytest.fixture
def ros_context():
    """An rclpy context in a domain of its own (random in 1..100, away from the default 0)."""
    from rclpy.context import Context

    ctx = Context()
    domain = random.Random(os.getpid() * 7919 + id(ctx)).randint(1, 100)
    rclpy.init(context=ctx, domain_id=domain)
    yield ctx
    if ctx.ok():
        rclpy.shutdown(context=ctx)
