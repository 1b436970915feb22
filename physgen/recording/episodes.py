"""A recorded evaluation's episodes: each ``evaluation/episode`` record paired with the camera frames
the bag holds for it, and the label every export gives it.

:func:`episodes_with_frames` gives each record the frame the policy was shown (the first
``camera/image_raw`` frame stamped at or after its reset's ``frame_after_ns``, as the VLM node picks
it); :func:`recorded_episodes` gives each the frames from its reset to its settled scene, with the
joint states of each frame.
"""

from __future__ import annotations

import json
from pathlib import Path

from physgen.recording.bag import deserialize, read_bag
from physgen.recording.frames import FrameError, image_rgb

SHOWN_TOPICS = ["/cell/episode", "/camera/image_raw", "/evaluation/episode"]
MOTION_TOPICS = ["/cell/episode", "/camera/image_raw", "/joint_states", "/cell/outcome", "/evaluation/episode"]


def label(record: dict) -> str:
    """success, failure, ``unparseable:<reason>`` or ``error:<what>`` (failures are kept, labelled)."""
    if record.get("error"):
        return f"error:{record['error']}"
    if record["success"]:
        return "success"
    return "failure" if record["reason"] == "ok" else f"unparseable:{record['reason']}"


def episodes_with_frames(bag: Path | str) -> list[tuple[dict, object]]:
    """(episode record, the RGB frame the policy was shown or None) for every recorded episode, in
    the bag's order."""
    return [(e["record"], e["frames"][0][0] if e["frames"] else None) for e in recorded_episodes(bag, shown=True)]


def _stamp(msg) -> int:
    return int(msg.header.stamp.sec) * 10**9 + int(msg.header.stamp.nanosec)


def recorded_episodes(bag: Path | str, shown: bool = False) -> list[dict]:
    """Every recorded episode in the bag's order: ``{"record", "frames": [(rgb, joints)], "joint_names"}``.
    An episode without its outcome (a step timed out) keeps the frames up to the next reset. ``shown``:
    only the first frame (the one the policy was shown), without joint states."""
    episodes, current, joints, names = [], None, {}, []
    open_eps: list[dict] = []  # reset, waiting for its evaluation record
    for topic, msgtype, _, raw in read_bag(bag, SHOWN_TOPICS if shown else MOTION_TOPICS):
        msg = deserialize(raw, msgtype)
        if topic == "/joint_states":
            joints[_stamp(msg)] = [float(q) for q in msg.position]
            names = list(msg.name) or names
        elif topic == "/cell/episode":
            doc = json.loads(msg.data)
            current = {"key": (doc["task"], int(doc["seed"]), doc["split"]), "frames": [], "settled": None,
                       "after": int(doc.get("frame_after_ns") or 0), "closed": False,
                       "request_id": doc.get("request_id")}
            open_eps.append(current)
        elif topic == "/cell/outcome" and current is not None:
            doc = json.loads(msg.data)
            if doc.get("request_id") == current["request_id"] and doc.get("frame_after_ns"):
                current["settled"] = int(doc["frame_after_ns"])
        elif topic == "/camera/image_raw" and current is not None and not current["closed"]:
            stamp = _stamp(msg)
            if stamp < current["after"]:
                continue
            try:
                current["frames"].append((image_rgb(msg), stamp))
            except FrameError:
                continue
            if shown or current["settled"] is not None and stamp >= current["settled"]:
                current["closed"] = True  # the settled scene: the episode's last frame
        elif topic == "/evaluation/episode":
            rec = json.loads(msg.data)
            key = (rec["task"], int(rec["seed"]), rec["split"])
            match = next((e for e in open_eps if e["key"] == key), None)
            if match is not None:
                open_eps.remove(match)
                if match is current:
                    current = None
            episodes.append({"record": rec, "frames": match["frames"] if match else []})
    for e in episodes:  # a frame's joint states carry its stamp; the bag may hold them after the frame
        e["frames"] = [(rgb, joints.get(stamp)) for rgb, stamp in e["frames"]]
        e["joint_names"] = names
    return episodes
