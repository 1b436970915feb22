"""``physgen bag score``: a recorded evaluation scored again from its bag, offline.

The bag's ``evaluation/episode`` records are summarized again with the report code and compared with
its ``evaluation/summary``; every episode's recorded raw answer is executed again in a cell of this
process from its scene (task, seed, split), through the one episode loop, and its reward and success
compared with the recorded ones. Episodes that could not run to their end (``error``) are counted,
not executed.
"""

from __future__ import annotations

import json
from pathlib import Path

from physgen.evaluation.summary import summarize
from physgen.recording.bag import deserialize, read_bag

EPISODE_TOPIC, SUMMARY_TOPIC = "/evaluation/episode", "/evaluation/summary"


def recorded(bag: Path | str) -> tuple[list[dict], list[dict]]:
    """The bag's episode records and summary records, in time order."""
    episodes, summaries = [], []
    for topic, msgtype, _, raw in read_bag(bag, [EPISODE_TOPIC, SUMMARY_TOPIC]):
        doc = json.loads(deserialize(raw, msgtype).data)
        (episodes if topic == EPISODE_TOPIC else summaries).append(doc)
    return episodes, summaries


def score_bag(bag: Path | str, reward_workers: int = 0) -> dict:
    """``{"episodes", "errors", "rescored", "agree", "disagree": [...], "summary_reproduced", "results",
    "rows"}`` (``rows``: the report's rows): ``summary_reproduced`` is None when the bag holds no summary
    (the run was stopped)."""
    from physgen.training.rewards import RewardJob, RewardPool

    episodes, summaries = recorded(bag)
    rows = summarize(episodes)
    results = [row.to_dict() for row in rows]
    runnable = [e for e in episodes if not e.get("error")]
    with RewardPool(reward_workers) as pool:
        again = pool.score([RewardJob(e["task"], int(e["seed"]), e["split"], e["raw"]) for e in runnable])
    disagree = [{"policy": e["policy"], "task": e["task"], "seed": e["seed"], "split": e["split"],
                 "recorded": [e["reward"], e["success"]], "again": [r.reward, r.success]}
                for e, r in zip(runnable, again) if (r.reward, r.success) != (e["reward"], e["success"])]
    live = summaries[-1]["results"] if summaries else None
    return {"episodes": len(episodes), "errors": len(episodes) - len(runnable), "rescored": len(runnable),
            "agree": len(runnable) - len(disagree), "disagree": disagree,
            "summary_reproduced": None if live is None else live == results, "results": results, "rows": rows}
