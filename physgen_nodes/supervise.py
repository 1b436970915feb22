"""``physgen bringup GRAPH --supervise``: every node of a graph in a process of its own (as ``ros2
launch`` starts them), each restarted when it dies (launch's ``respawn``), the run ending with the
graph's ending node (its exit status) or Ctrl-C.

A node killed mid-episode costs that episode (the evaluation node records it as failed, with the
step that timed out) and comes back; the evaluation goes on and counts every episode once. A killed
evaluation node comes back too and resumes from its log. When a node's exit ends the run, or
restarts the node, is :mod:`physgen_nodes.exits`' rule, which the launch files share.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from physgen_nodes.exits import INTERRUPTED, RESPAWN_DELAY_S, Exits
from physgen_nodes.params import nest


def node_command(module: str, params_file: Path, remaps: Sequence[str]) -> list[str]:
    """``physgen node MODULE`` with its parameter file and remaps, as a command line."""
    cmd = [sys.executable, "-m", "physgen.cli", "node", module, "--ros-args", "--params-file", str(params_file)]
    return cmd + [a for r in remaps for a in ("-r", r)]


class Supervisor:
    """Start ``nodes`` (name -> (module, parameters)) in order, each in its own process; on each exit
    restart the node or end the run, as :class:`~physgen_nodes.exits.Exits` says."""

    def __init__(self, nodes: Mapping[str, tuple[str, Mapping[str, Any]]], ending: str | None,
                 remaps: Sequence[str] = ()):
        self.dir = Path(tempfile.mkdtemp(prefix="physgen-bringup-"))
        self.commands = {}
        for name, (module, params) in nodes.items():
            path = self.dir / f"{name}.yaml"
            path.write_text(yaml.safe_dump({name: {"ros__parameters": nest(dict(params))}}))
            self.commands[name] = node_command(module, path, remaps)
        self.exits = Exits(ending)
        self.procs: dict[str, subprocess.Popen] = {}
        self.stopping = threading.Event()

    def _start(self, name: str) -> None:
        self.procs[name] = subprocess.Popen(self.commands[name])
        self.exits.started(name)

    def stop(self) -> None:
        """Ask every node to stop (thread- and signal-safe)."""
        self.stopping.set()

    def run(self) -> int:
        for name in self.commands:
            self._start(name)
        try:
            while not self.stopping.is_set():
                for name, proc in list(self.procs.items()):
                    code = proc.poll()
                    if code is None:
                        continue
                    verdict = self.exits.exited(name, code)
                    print(f"bringup: {verdict.message}", file=sys.stderr, flush=True)
                    if verdict.action == "end":
                        return verdict.status
                    time.sleep(RESPAWN_DELAY_S)
                    self._start(name)
                time.sleep(0.1)
            return INTERRUPTED
        finally:
            self._shutdown()

    def _shutdown(self, timeout: float = 30.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        end = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)  # the nodes' parameter files
