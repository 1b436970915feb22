"""The one ``main()`` every node shares: init, build the node, spin, shut down cleanly; a bad
parameter exits with status 2 and the message naming it. A node that ends its own run (the
evaluation node) sets ``exit_code`` and shuts its context down; the process exits with that code,
or 130 when Ctrl-C (SIGTERM) stopped it before its job was ``done`` (:mod:`physgen_nodes.exits`).

Every node is spun by a ``SingleThreadedExecutor``: work that waits for other callbacks (a policy
waiting for a frame, a move for its report, an episode for its replies, a training job) runs on a
thread of the node's own, never in a callback. rclpy's (9.1)
``MultiThreadedExecutor`` delayed callbacks here by up to 1.5 s under a 10 Hz camera stream (an
instruction's callback entered that long after its publication; `benchmarks/bench_ros.py` part 2
measured a p90 of 480-590 ms against a median of 16-89 ms), and a recorder spun by it lost joint
states and frames in transport (part 3); single-threaded, the same runs answer within 1.1x of their
median at p90 and record every message."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from physgen.config import ConfigError
from physgen_nodes.exits import BAD_START, INTERRUPTED

EXIT_GRACE_S = 10.0  # from the end of run_node to the process's end, at most (see exit_guard)


def run_node(make: Callable[[], rclpy.node.Node], args: list[str] | None = None) -> None:
    # SIGINT and SIGTERM (what `ros2 launch` sends) only set a flag: rclpy's own handler raises
    # KeyboardInterrupt wherever the main thread is, which can leave a lock held, so the process
    # hangs at exit. The loop below sees the flag within 0.1 s.
    stop = threading.Event()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    node = executor = None
    try:
        node = make()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():  # a node that ends its run shuts the context down
            executor.spin_once(timeout_sec=0.1)
    except ConfigError as e:
        print(f"{getattr(make, '__name__', 'node')}: {e}", file=sys.stderr)
        raise SystemExit(BAD_START) from None
    except ExternalShutdownException:
        pass
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=5.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    code = getattr(node, "exit_code", None)
    if code is None:  # a job's node stopped before its job was done, or a node that serves others
        done = getattr(node, "done", None)
        code = INTERRUPTED if done is not None and not done.is_set() else 0
    exit_guard(code)
    if code:
        raise SystemExit(code)


def exit_guard(code: int, grace_s: float = EXIT_GRACE_S) -> threading.Thread:
    """End the process with ``code`` if it is still alive ``grace_s`` seconds from now. The node is
    done and destroyed by then; what could still hold the process is not its work: a library's
    non-daemon thread (a trainer's data loader, a thread pool), which Python waits for at exit, or
    an exit handler that hangs. Such a process once finished its job, wrote its model and then spun
    at 100% CPU until killed; with this guard a node process always ends."""
    def guard() -> None:
        time.sleep(grace_s)
        others = sorted(t.name for t in threading.enumerate() if t is not threading.current_thread())
        print(f"the node is done but its process is still running after {grace_s:g} s (threads: {others}); "
              f"exiting with status {code}", file=sys.stderr, flush=True)
        os._exit(code)

    thread = threading.Thread(target=guard, name="exit-guard", daemon=True)
    thread.start()
    return thread


def publish_matched(publisher, msg, wait: float = 2.0, cancel: Callable[[], object] | None = None) -> bool:
    """Publish once ``publisher`` has matched a subscriber, waiting up to ``wait`` seconds for one
    (or until ``cancel()`` is true: then nothing is published and False returned).

    Discovery is per endpoint: a node that has just seen a request may not yet be matched to the
    requester's reply subscription, and a reliable, volatile message published before the match is
    lost. Returns whether anyone was matched (the message is published either way).
    """
    end = time.monotonic() + wait
    while publisher.get_subscription_count() == 0 and time.monotonic() < end:
        if cancel is not None and cancel():
            return False
        time.sleep(0.005)
    matched = publisher.get_subscription_count() > 0
    publisher.publish(msg)
    return matched


def wait_acked(*publishers, timeout_s: float = 5.0) -> bool:
    """Wait up to ``timeout_s`` until every matched subscriber has acknowledged what ``publishers``
    (reliable) sent: a node that publishes its last records and exits at once can otherwise take
    them down with it, for any subscriber. Whether all were acknowledged."""
    from rclpy.duration import Duration

    end = time.monotonic() + timeout_s
    try:
        return all(p.wait_for_all_acked(Duration(seconds=max(0.0, end - time.monotonic()))) for p in publishers)
    except RuntimeError:  # rclpy's RCLError, InvalidHandle: the context went down (Ctrl-C)
        return False
