"""``physgen bag replay``: the recorded frames and instructions of an evaluation answered by another
policy, open loop (its answers are parsed, not executed), and compared with the recorded answers."""

from __future__ import annotations

import json
from pathlib import Path

from physgen.policy.base import Observation
from physgen.recording.episodes import episodes_with_frames
from physgen.tasks import load_task
from physgen.tasks.codec import parse


def replay(bag: Path | str, policy, out: Path | str | None = None) -> dict:
    """Answer every recorded episode that has its frame with ``policy``; ``{"episodes", "replayed",
    "same_answer", "parse_failures", "recorded_parse_failures"}``. With ``out``, one JSON line per
    replayed episode: its key, the recorded and the new raw text and parsed answer."""
    lines, same, failures, recorded_failures, replayed = [], 0, 0, 0, 0
    episodes = episodes_with_frames(bag)
    for rec, frame in episodes:
        if frame is None:
            continue
        task = load_task(rec["task"])
        inst = task.sample(int(rec["seed"]), rec["split"])
        obs = Observation(frame, rec["prompt"], task.name, inst.seed, task.answer_format,
                          inst if policy.privileged else None)
        parsed = parse(policy.act(obs), task.answer_format)
        answer = list(parsed.answer) if isinstance(parsed.answer, tuple) else parsed.answer
        replayed += 1
        same += parsed.ok and rec["reason"] == "ok" and answer == rec["answer"]
        failures += not parsed.ok
        recorded_failures += rec["reason"] != "ok"
        lines.append({"task": rec["task"], "seed": rec["seed"], "split": rec["split"], "recorded_policy": rec["policy"],
                      "recorded_raw": rec["raw"], "recorded_answer": rec["answer"], "policy": policy.name,
                      "raw": parsed.text, "answer": answer, "reason": parsed.reason})
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text("".join(json.dumps(line) + "\n" for line in lines))
    return {"episodes": len(episodes), "replayed": replayed, "same_answer": same, "parse_failures": failures,
            "recorded_parse_failures": recorded_failures}
