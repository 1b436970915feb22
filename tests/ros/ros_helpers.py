"""Helpers for the ROS tests."""

from __future__ import annotations


def spin_until(executor, condition, timeout: float = 20.0) -> bool:
    """Spin ``executor`` until ``condition()`` is true or ``timeout`` seconds pass."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        executor.spin_once(timeout_sec=0.05)
    return condition()


def executor(ctx, *nodes, multi: bool = False):
    """An executor in ``ctx`` holding ``nodes`` (multi-threaded when a node needs it)."""
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    ex = (MultiThreadedExecutor if multi else SingleThreadedExecutor)(context=ctx)
    for n in nodes:
        ex.add_node(n)
    return ex
