"""Camera frames out of ``sensor_msgs/Image`` messages, ROS-free: works on rclpy messages and on
messages read from a bag alike (anything with ``encoding``, ``height``, ``width``, ``step``, ``data``)."""

from __future__ import annotations

import numpy as np


class FrameError(ValueError):
    """A frame that cannot be used; ``reason`` is a short code for counters."""

    def __init__(self, reason: str, detail: str):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


def image_rgb(msg) -> np.ndarray:
    """An rgb8 or bgr8 image message as an (H, W, 3) uint8 RGB array; :class:`FrameError` if the
    encoding, step or data size does not fit."""
    if msg.encoding not in ("rgb8", "bgr8"):
        raise FrameError("bad_encoding", f"encoding {msg.encoding!r}, expected rgb8 or bgr8")
    h, w = int(msg.height), int(msg.width)
    if h < 1 or w < 1:
        raise FrameError("bad_size", f"{w}x{h}")
    if msg.step < w * 3:
        raise FrameError("bad_step", f"step {msg.step} < width*3 = {w * 3}")
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if data.size != msg.step * h:
        raise FrameError("bad_data_size", f"{data.size} bytes, expected step*height = {msg.step * h}")
    rgb = data.reshape(h, msg.step)[:, : w * 3].reshape(h, w, 3)
    return np.ascontiguousarray(rgb[:, :, ::-1] if msg.encoding == "bgr8" else rgb)
