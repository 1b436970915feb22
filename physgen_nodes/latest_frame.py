"""The latest camera frame, for nodes that answer from "the first frame stamped after" an event."""

from __future__ import annotations

import threading
import time

import numpy as np


class LatestFrame:
    """Keeps only the newest frame (rgb, received at (monotonic s), stamp (ns)); a reader waits for one
    stamped at or after a given time."""

    def __init__(self):
        self._frame: tuple[np.ndarray, float, int] | None = None
        self._ready = threading.Condition()

    def keep(self, rgb: np.ndarray, stamp_ns: int) -> None:
        with self._ready:
            self._frame = (rgb, time.monotonic(), stamp_ns)
            self._ready.notify_all()

    def after(self, stamp_ns: int, timeout: float) -> tuple[np.ndarray, float, int] | None:
        """The newest frame if it is stamped at or after ``stamp_ns``, waiting up to ``timeout`` s for one."""
        def fresh() -> bool:
            return self._frame is not None and self._frame[2] >= stamp_ns

        with self._ready:
            self._ready.wait_for(fresh, timeout=timeout)
            return self._frame if fresh() else None
