"""The one ``main()`` every node shares: init, build the node, spin, shut down cleanly; a bad
parameter exits with status 2 and the message naming it. A node that ends its own run (the
evaluation node) sets ``exit_code`` and shuts its context down; the process exits with that code."""

from __future__ import annotations

import sys
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
