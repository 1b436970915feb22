"""Helpers for the ROS tests."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def process_env(domain: int) -> dict[str, str]:
    """The environment of a node process: this checkout, its own domain, localhost only, offline."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "ROS_DOMAIN_ID": str(domain),
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "HF_HUB_OFFLINE": "1"}


def interrupt(proc: subprocess.Popen, timeout: float = 30.0) -> str:
    """Ctrl-C ``proc`` and wait for it (killed, and the timeout raised, if it hangs); its stderr."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def spin_until(executor, condition, timeout: float = 20.0) -> bool:
    """Spin ``executor`` until ``condition()`` is true or ``timeout`` seconds pass."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        executor.spin_once(timeout_sec=0.05)
    return condition()


def executor(ctx, *nodes):
    """A single-threaded executor in ``ctx`` holding ``nodes``, as every node process has."""
    from rclpy.executors import SingleThreadedExecutor

    ex = SingleThreadedExecutor(context=ctx)
    for n in nodes:
        ex.add_node(n)
    return ex
