"""``physgen bag export``: a recorded evaluation as a dataset others can train on.

One row per recorded episode (``evaluation/episode``), with the camera frame the policy was shown:
the first ``camera/image_raw`` frame stamped at or after the episode's reset (``cell/episode``'s
``frame_after_ns``), as the VLM node picks it. Failures are kept and labelled (``label``: success,
failure, ``unparseable:<reason>`` or ``error:<what>``).
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path

from physgen.config import ConfigError
from physgen.recording.episodes import episodes_with_frames, label
from physgen.recording.lerobot import export_lerobot

FORMATS = ("parquet", "lerobot")


def export(bag: Path | str, out: Path | str, fmt: str = "parquet") -> dict:
    """Write the bag's episodes to ``out``: a parquet file with one row per episode
    (``{"episodes", "with_frame", "labels": {label: count}}``), or with ``lerobot`` a LeRobot dataset
    directory (:func:`physgen.recording.lerobot.export_lerobot`)."""
    if fmt not in FORMATS:
        raise ConfigError("format", fmt, f"one of {FORMATS}")
    if fmt == "lerobot":
        return export_lerobot(bag, out)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ConfigError("format", fmt, "pyarrow installed (pip install pyarrow)") from e
    from PIL import Image

    rows = []
    for rec, frame in episodes_with_frames(bag):
        png = None
        if frame is not None:
            buf = io.BytesIO()
            Image.fromarray(frame).save(buf, format="PNG")
            png = buf.getvalue()
        rows.append({"task": rec["task"], "seed": int(rec["seed"]), "split": rec["split"], "policy": rec["policy"],
                     "prompt": rec["prompt"], "image_png": png, "raw": rec["raw"],
                     "answer": json.dumps(rec["answer"]), "reason": rec["reason"], "reward": float(rec["reward"]),
                     "success": bool(rec["success"]), "label": label(rec), "error": rec.get("error", ""),
                     "oracle_best": rec["oracle_best"], "variant": json.dumps(rec["variant"]),
                     "plan": json.dumps(rec["plan"]), "motions": json.dumps(rec["motions"]),
                     "settle": json.dumps(rec["settle"])})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out)
    labels: dict[str, int] = defaultdict(int)
    for r in rows:
        labels[r["label"]] += 1
    return {"episodes": len(rows), "with_frame": sum(r["image_png"] is not None for r in rows),
            "labels": dict(labels), "out": str(out)}
