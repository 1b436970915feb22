"""Image and record conversions: round trips, and malformed messages rejected with a reason."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sensor_msgs")

from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header, String  # noqa: E402

from physgen_nodes.conversions import (  # noqa: E402
    Rejected,
    compressed_array,
    compressed_msg,
    image_array,
    image_msg,
    record_msg,
    record_of,
)


def frame(h=24, w=32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_image_round_trip_and_bgr():
    rgb = frame()
    msg = image_msg(rgb, Header(frame_id="cam"))
    assert msg.encoding == "rgb8" and msg.step == 32 * 3
    assert np.array_equal(image_array(msg), rgb)
    bgr = Image(height=24, width=32, encoding="bgr8", step=96, data=rgb[:, :, ::-1].tobytes())
    assert np.array_equal(image_array(bgr), rgb)
    padded = Image(height=24, width=32, encoding="rgb8", step=100,
                   data=np.pad(rgb.reshape(24, 96), ((0, 0), (0, 4))).tobytes())
    assert np.array_equal(image_array(padded), rgb)


@pytest.mark.parametrize("kwargs, reason", [
    ({"encoding": "mono8"}, "bad_encoding"),
    ({"step": 10}, "bad_step"),
    ({"height": 25}, "bad_data_size"),
    ({"width": 0}, "bad_size"),
])
def test_malformed_images_are_rejected_with_a_reason(kwargs, reason):
    msg = image_msg(frame(), Header())
    for k, v in kwargs.items():
        setattr(msg, k, v)
    with pytest.raises(Rejected) as e:
        image_array(msg)
    assert e.value.reason == reason


def test_compressed_round_trip_is_close_and_garbage_rejected():
    rgb = np.full((32, 32, 3), (200, 40, 90), dtype=np.uint8)
    back = compressed_array(compressed_msg(rgb, Header()))
    assert back.shape == rgb.shape and np.abs(back.astype(int) - rgb).mean() < 4
    with pytest.raises(Rejected) as e:
        compressed_array(CompressedImage(format="jpeg", data=b"not a jpeg"))
    assert e.value.reason == "bad_compressed"


def test_records_are_versioned_json():
    msg = record_msg("reset", {"task": "shift", "seed": np.int64(3)})
    assert record_of(msg, "reset")["seed"] == 3
    for data, reason in [("{", "bad_json"), ('{"schema": "other", "version": 1}', "bad_schema"),
                         ('{"schema": "reset", "version": 99}', "bad_version")]:
        with pytest.raises(Rejected) as e:
            record_of(String(data=data), "reset")
        assert e.value.reason == reason
