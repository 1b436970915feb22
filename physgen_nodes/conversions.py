"""Message <-> array conversions with validation. A malformed message is rejected with a reason
(:class:`Rejected`), never a crash: callers count the reason and keep running."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header, String

from physgen.cell.camera import Intrinsics
from physgen.recording.frames import FrameError, image_rgb

RECORD_SCHEMA_VERSION = 1


class Rejected(ValueError):
    """A message that cannot be used; ``reason`` is a short code for counters."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


def image_msg(rgb: np.ndarray, header: Header) -> Image:
    """An (H, W, 3) uint8 RGB array as ``sensor_msgs/Image`` rgb8."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {rgb.dtype} {rgb.shape}")
    msg = Image(header=header, height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", is_bigendian=0,
                step=rgb.shape[1] * 3)
    msg.data = np.ascontiguousarray(rgb).tobytes()
    return msg


def image_array(msg: Image) -> np.ndarray:
    """``sensor_msgs/Image`` (rgb8 or bgr8) as an (H, W, 3) uint8 RGB array; :class:`Rejected` if
    the encoding, step or data size does not fit."""
    try:
        return image_rgb(msg)
    except FrameError as e:
        raise Rejected(e.reason, e.detail) from e


def compressed_msg(rgb: np.ndarray, header: Header, quality: int = 90) -> CompressedImage:
    """JPEG through OpenCV, as image_transport's ``compressed`` plugin publishes it."""
    import cv2

    ok, buf = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    msg = CompressedImage(header=header, format="rgb8; jpeg compressed bgr8")
    msg.data = buf.tobytes()
    return msg


def compressed_array(msg: CompressedImage) -> np.ndarray:
    import cv2

    bgr = cv2.imdecode(np.frombuffer(bytes(msg.data), dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise Rejected("bad_compressed", f"cannot decode {len(msg.data)} bytes ({msg.format!r})")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def camera_info(k: Intrinsics, header: Header) -> CameraInfo:
    """Pinhole CameraInfo (no distortion) for the rendered camera."""
    msg = CameraInfo(header=header, height=k.height, width=k.width, distortion_model="plumb_bob")
    msg.d = [0.0] * 5
    msg.k = k.k
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def record_msg(kind: str, payload: dict[str, Any]) -> String:
    """A structured record as JSON in ``std_msgs/String``: ``{"schema": kind, "version": N, ...}``."""
    return String(data=json.dumps({"schema": kind, "version": RECORD_SCHEMA_VERSION, **payload},
                                  default=_plain))


def record_of(msg: String, kind: str) -> dict[str, Any]:
    """Parse a record of ``kind``; :class:`Rejected` on bad JSON, another schema or version."""
    try:
        data = json.loads(msg.data)
    except json.JSONDecodeError as e:
        raise Rejected("bad_json", str(e)) from None
    if not isinstance(data, dict) or data.get("schema") != kind:
        raise Rejected("bad_schema", f"expected schema {kind!r}")
    if data.get("version") != RECORD_SCHEMA_VERSION:
        raise Rejected("bad_version", f"version {data.get('version')!r}, expected {RECORD_SCHEMA_VERSION}")
    return data


def _plain(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
