"""The one ``main()`` every node shares: init, build the node, spin, shut down cleanly; a bad
parameter exits with status 2 and the message naming it. A node that ends its own run (the
evaluation node) sets ``exit_code`` and shuts its context down; the process exits with that code."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

from physgen.config import ConfigError


def run_node(make: Callable[[], rclpy.node.Node], args: list[str] | None = None) -> None:
    rclpy.init(args=args)
    node = None
    try:
        node = make()
        executor = MultiThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except ConfigError as e:
        print(f"{getattr(make, '__name__', 'node')}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    code = getattr(node, "exit_code", None)
    if code:
        raise SystemExit(code)


def publish_matched(publisher, msg, wait: float = 2.0) -> bool:
    """Publish once ``publisher`` has matched a subscriber, waiting up to ``wait`` seconds for one.

    Discovery is per endpoint: a node that has just seen a request may not yet be matched to the
    requester's reply subscription, and a reliable, volatile message published before the match is
    lost. Returns whether anyone was matched (the message is published either way).
    """
    end = time.monotonic() + wait
    while publisher.get_subscription_count() == 0 and time.monotonic() < end:
        time.sleep(0.005)
    matched = publisher.get_subscription_count() > 0
    publisher.publish(msg)
    return matched
