"""``physgen bag export --format lerobot``: a recorded evaluation as a LeRobot dataset (format v3.0).

One LeRobot episode per recorded episode; its frames are the camera frames the bag holds from the
scene's reset (the first frame stamped at or after ``cell/episode``'s ``frame_after_ns``: the image
the policy was shown) to the first frame of the settled scene (at or after ``cell/outcome``'s
``frame_after_ns``). Per frame: ``observation.images.scene`` (PNG), ``observation.state`` (the joint
positions published with that frame, same stamp), ``action`` (the next frame's joint positions: the
absolute joint targets the arm reached; the last frame repeats its state), ``next.reward``,
``next.done`` and ``next.success`` (the episode's outcome on its last frame), and the strings
``answer`` (the policy's raw answer), ``policy`` and ``label`` (success, failure,
``unparseable:<reason>``, ``error:<what>``: failures are kept). The task is the prompt.

The cell streams at ``fps`` in wall-clock time and moves the arm in simulated time between frames,
so ``timestamp`` is nominal (``frame_index / fps``): the frames are the recorded states in order.
Layout: ``meta/info.json``, ``meta/tasks.parquet``, ``meta/episodes/chunk-000/file-000.parquet``,
``meta/stats.json``, ``data/chunk-000/file-000.parquet``; images embedded in the data file.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from physgen.config import ConfigError
from physgen.recording.episodes import label, recorded_episodes

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _stats(values: np.ndarray) -> dict:
    v = values.astype(np.float64)
    out = {"min": np.nanmin(v, axis=0), "max": np.nanmax(v, axis=0), "mean": np.nanmean(v, axis=0),
           "std": np.nanstd(v, axis=0)}  # NaN: a joint state the bag does not hold
    out.update({f"q{int(q * 100):02d}": np.nanquantile(v, q, axis=0) for q in QUANTILES})
    return {k: np.atleast_1d(x).tolist() for k, x in out.items()} | {"count": [int(len(v))]}


def _image_stats(frames: list[np.ndarray]) -> dict:
    """Per channel, on [0, 1], shaped (3, 1, 1) as LeRobot keeps image statistics."""
    pixels = np.concatenate([f.reshape(-1, 3) for f in frames]).astype(np.float64) / 255.0
    s = _stats(pixels)
    return {k: (v if k == "count" else [[[c]] for c in v]) for k, v in s.items()} | {"count": [len(frames)]}


def export_lerobot(bag: Path | str, out: Path | str, fps: int = 10, robot_type: str = "franka_panda_sim") -> dict:
    """Write the bag's episodes as a LeRobot v3.0 dataset in the directory ``out`` (must not exist
    or be empty); ``{"episodes", "frames", "tasks", "labels": {label: count}, "without_frames", "out"}``
    (an episode whose frames the bag does not hold cannot be a LeRobot episode: counted, left out)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError("out", str(out), "a new or empty directory for the LeRobot dataset")
    recorded = recorded_episodes(bag)
    episodes = [e for e in recorded if e["frames"]]
    if not episodes:
        raise ConfigError("bag", str(bag), "a recorded evaluation with at least one episode and its camera frames")
    names = episodes[0]["joint_names"]
    dof = len(names)
    tasks: dict[str, int] = {}
    rows: dict[str, list] = {k: [] for k in ("observation.images.scene", "observation.state", "action", "timestamp",
                                             "frame_index", "episode_index", "index", "task_index", "next.reward",
                                             "next.done", "next.success", "answer", "policy", "label")}
    meta_rows, labels, images = [], {}, []
    for ep_index, ep in enumerate(episodes):
        rec, frames = ep["record"], ep["frames"]
        task_index = tasks.setdefault(rec["prompt"], len(tasks))
        states = [np.asarray(j if j is not None and len(j) == dof else [np.nan] * dof, dtype=np.float32)
                  for _, j in frames]
        start = len(rows["index"])
        tag = label(rec)
        labels[tag] = labels.get(tag, 0) + 1
        for i, (rgb, _) in enumerate(frames):
            last = i == len(frames) - 1
            rows["observation.images.scene"].append({"bytes": _png(rgb), "path": f"frame-{start + i:06d}.png"})
            rows["observation.state"].append(states[i].tolist())
            rows["action"].append(states[i if last else i + 1].tolist())
            rows["timestamp"].append(np.float32(i / fps))
            rows["frame_index"].append(i)
            rows["episode_index"].append(ep_index)
            rows["index"].append(start + i)
            rows["task_index"].append(task_index)
            rows["next.reward"].append(np.float32(rec["reward"] if last else 0.0))
            rows["next.done"].append(last)
            rows["next.success"].append(bool(rec["success"]) and last)
            rows["answer"].append(str(rec.get("raw", "")))
            rows["policy"].append(str(rec.get("policy", "")))
            rows["label"].append(tag)
        images += [rgb for rgb, _ in frames[:: max(1, len(frames) // 4)]]
        meta_rows.append({"episode_index": ep_index, "tasks": [rec["prompt"]], "length": len(frames),
                          "data/chunk_index": 0, "data/file_index": 0, "dataset_from_index": start,
                          "dataset_to_index": start + len(frames), "meta/episodes/chunk_index": 0,
                          "meta/episodes/file_index": 0, "task": rec["task"], "seed": int(rec["seed"]),
                          "split": rec["split"], "success": bool(rec["success"]), "reward": float(rec["reward"]),
                          "label": tag})
    h, w, _ = episodes[0]["frames"][0][0].shape
    vector = {"dtype": "float32", "shape": [dof], "names": names}

    def scalar(dtype: str) -> dict:
        return {"dtype": dtype, "shape": [1], "names": None}

    features = {
        "observation.images.scene": {"dtype": "image", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                                     "info": {"is_depth_map": False}},
        "observation.state": vector, "action": vector,
        "timestamp": scalar("float32"), "frame_index": scalar("int64"), "episode_index": scalar("int64"),
        "index": scalar("int64"), "task_index": scalar("int64"), "next.reward": scalar("float32"),
        "next.done": scalar("bool"), "next.success": scalar("bool"), "answer": scalar("string"),
        "policy": scalar("string"), "label": scalar("string"),
    }
    arrow = {"observation.images.scene": pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
             "observation.state": pa.list_(pa.float32(), dof), "action": pa.list_(pa.float32(), dof),
             "timestamp": pa.float32(), "frame_index": pa.int64(), "episode_index": pa.int64(), "index": pa.int64(),
             "task_index": pa.int64(), "next.reward": pa.float32(), "next.done": pa.bool_(),
             "next.success": pa.bool_(), "answer": pa.string(), "policy": pa.string(), "label": pa.string()}
    data = out / DATA_PATH.format(chunk_index=0, file_index=0)
    data.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({k: pa.array(v, type=arrow[k]) for k, v in rows.items()}), data)
    (out / EPISODES_PATH).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(meta_rows), out / EPISODES_PATH)
    pd.DataFrame({"task_index": list(tasks.values())},
                 index=pd.Index(list(tasks), name="task")).to_parquet(out / "meta" / "tasks.parquet")
    stats = {k: _stats(np.asarray(rows[k], dtype=np.float64).reshape(len(rows[k]), -1))
             for k in ("observation.state", "action", "timestamp", "frame_index", "episode_index", "index",
                       "task_index", "next.reward", "next.done", "next.success")}
    stats["observation.images.scene"] = _image_stats(images)
    (out / "meta" / "stats.json").write_text(json.dumps(stats, indent=2))
    total = len(rows["index"])
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": robot_type, "total_episodes": len(episodes),
            "total_frames": total, "total_tasks": len(tasks), "chunks_size": 1000, "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200, "fps": fps, "splits": {"train": f"0:{len(episodes)}"},
            "data_path": DATA_PATH, "video_path": None, "features": features}
    (out / "meta" / "info.json").write_text(json.dumps(info, indent=2))
    return {"episodes": len(episodes), "frames": total, "tasks": len(tasks), "labels": labels,
            "without_frames": len(recorded) - len(episodes), "out": str(out)}
