"""What a node's exit means for its run: one rule for ``physgen bringup --supervise`` and for the
launch files (which call it from their process-exit handlers), so both end, restart and fail alike.

- The graph's ending node (evaluation, SFT, GRPO) exiting 0: its job is done; the run ends with 0.
- Status 2 from any node: it failed at start (a bad parameter, a URDF that does not fit, no model;
  its one-line error is above). Never restarted: the run ends with 2.
- The ending node exiting by itself with another status: the run ends with that status (an
  evaluation that timed out on an incomplete graph, a trainer whose job failed; 130: stopped by
  Ctrl-C before its job was done, which under ``ros2 launch`` also makes the launch's status 1).
- Any other exit (killed by a signal, a crash): the node is restarted. A restarted evaluation node
  resumes from its log, a restarted recorder records on into the bag's next part. A node that dies
  within :data:`START_S` of starting :data:`MAX_QUICK_DEATHS` times in a row is not restarted again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

BAD_START = 2  # run_node's status for a ConfigError: the node could not start
INTERRUPTED = 130  # an ending node stopped (Ctrl-C, SIGTERM) before its job was done
START_S = 5.0
MAX_QUICK_DEATHS = 3
RESPAWN_DELAY_S = 1.0  # also the launch files' respawn_delay: the exit handler decides before a respawn


@dataclass(frozen=True)
class Verdict:
    action: str  # "end" (the run ends with ``status``) or "restart"
    status: int  # the run's exit status when it ends
    message: str


class Exits:
    """Tracks node starts and judges exits; ``ending`` names the graph's ending node (or None)."""

    def __init__(self, ending: str | None, clock: Callable[[], float] = time.monotonic):
        self.ending, self.clock = ending, clock
        self._started: dict[str, float] = {}
        self._quick: dict[str, int] = {}
        self.restarts: dict[str, int] = {}

    def started(self, name: str) -> None:
        self._started[name] = self.clock()

    def exited(self, name: str, code: int) -> Verdict:
        if name == self.ending and code == 0:
            return Verdict("end", 0, f"the {name} node finished its job")
        if code == BAD_START:
            return Verdict("end", BAD_START, f"the {name} node failed at start (exit status 2, its error above); "
                                             "not restarted")
        if name == self.ending and code == INTERRUPTED:
            return Verdict("end", code, f"the {name} node was stopped before its job was done (status {code})")
        if name == self.ending and code > 0:
            return Verdict("end", code, f"the {name} node exited with status {code}")
        quick = self.clock() - self._started.get(name, float("-inf")) < START_S
        self._quick[name] = self._quick.get(name, 0) + 1 if quick else 0
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        if self._quick[name] >= MAX_QUICK_DEATHS:
            return Verdict("end", code if code > 0 else 1,
                           f"the {name} node {how}, its {self._quick[name]}th death within {START_S:g} s of "
                           "starting; not restarted")
        self.restarts[name] = self.restarts.get(name, 0) + 1
        return Verdict("restart", 0, f"the {name} node {how}; restarting it ({self.restarts[name]})")
