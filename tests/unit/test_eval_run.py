"""`physgen eval`: named policies, one record per episode with its fingerprint, and a killed run that
resumes to the same records as an uninterrupted one, without running an episode twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_policies_are_named_on_the_command_line():
    from physgen.config import ConfigError
    from physgen.evaluation.run import PolicySpec

    assert PolicySpec.parse("expert") == PolicySpec("expert", "expert", None)
    assert PolicySpec.parse("vlm:runs/sft_fd/model") == PolicySpec("sft_fd", "vlm", "runs/sft_fd/model")
    assert PolicySpec.parse("base=vlm:tiny-qwen2-vl") == PolicySpec("base", "vlm", "tiny-qwen2-vl")
    for bad in ("oracle", "vlm", "expert:runs/m", "a,b=chance"):
        with pytest.raises(ConfigError, match="policy"):
            PolicySpec.parse(bad)


def test_a_task_may_carry_its_own_episode_count(tmp_path):
    from physgen.config import ConfigError
    from physgen.evaluation.plan import scenes, task_plan
    from physgen.evaluation.run import PolicySpec, evaluate_resumable

    assert task_plan(["stability", "fall_direction:3"], 2) == [("stability", 2), ("fall_direction", 3)]
    assert scenes(["stability", "fall_direction:3"], 1, 5) == [("stability", 5), ("fall_direction", 5),
                                                               ("fall_direction", 6), ("fall_direction", 7)]
    for bad in ("nope", "stability:0", "stability:x", "stability:-1"):
        with pytest.raises(ConfigError, match="tasks"):
            task_plan([bad], 1)
    records = evaluate_resumable([PolicySpec.parse("chance")], ["stability", "fall_direction:3"], 1, 0, "train",
                                 tmp_path)
    assert [(r["task"], r["seed"]) for r in records] == [("stability", 0), ("fall_direction", 0),
                                                        ("fall_direction", 1), ("fall_direction", 2)]


def test_parallel_evaluation_gives_the_records_of_one_process_and_seeds_share_the_scenes(tmp_path):
    from physgen.evaluation.run import PolicySpec
    from physgen.evaluation.workers import evaluate_parallel

    specs = [PolicySpec("base", "chance"), PolicySpec("trained.seed0", "expert", None, (0, 2)),
             PolicySpec("trained.seed1", "expert", None, (1, 2))]
    jobs = [("train", ["stability", "fall_direction:3"]), ("heldout", ["fall_direction"])]
    one = evaluate_parallel(specs, jobs, 2, 4, tmp_path / "one", workers=1)
    two = evaluate_parallel(specs, jobs, 2, 4, tmp_path / "two", workers=2)
    strip = [{k: v for k, v in r.items() if k != "latency"} for r in one]
    assert strip == [{k: v for k, v in r.items() if k != "latency"} for r in two]
    assert _records(tmp_path / "two") == strip  # merged into episodes.jsonl in the one-process order
    ran = {(r["policy"], r["task"], r["split"], r["seed"]) for r in one}
    assert {("trained.seed0", "fall_direction", "train", 4), ("trained.seed1", "fall_direction", "train", 5)} <= ran
    assert ("trained.seed0", "fall_direction", "train", 5) not in ran  # each seed its share of the base's scenes
    assert sum(r["policy"] == "base" for r in one) == sum(r["policy"].startswith("trained") for r in one) == 2 + 3 + 2
    again = evaluate_parallel(specs, jobs, 2, 4, tmp_path / "two", workers=2)  # done: nothing run twice
    assert len(again) == len(two) and len(_records(tmp_path / "two")) == len(two)


def _cmd(out: Path, *policies: str) -> list[str]:
    return [sys.executable, "-m", "physgen.cli", "eval", *(a for p in policies for a in ("--policy", p)),
            "--tasks", "fall_direction,stability", "--episodes", "6", "--seed", "3", "--splits", "train",
            "--out", str(out)]


def _records(out: Path) -> list[dict]:
    rows = [json.loads(ln) for ln in (out / "episodes.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "latency"} for r in rows]


@pytest.mark.slow
def test_a_killed_eval_resumes_to_the_same_records(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(_cmd(tmp_path / "whole", "expert", "chance"), check=True, env=env, capture_output=True,
                   timeout=600)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(killed, "expert", "chance"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    log = killed / "episodes.jsonl"
    deadline = time.monotonic() + 300
    while not (log.is_file() and log.read_text().count("\n") >= 5):
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it was killed"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    written = log.read_text().count("\n")
    assert 5 <= written < 24
    with log.open("a") as f:
        f.write('{"version": 1, "task": "fall_dir')  # a line the kill cut short
    done = subprocess.run(_cmd(killed, "expert", "chance"), check=True, env=env, capture_output=True, text=True,
                          timeout=600)
    assert "matrix" in done.stdout
    whole, resumed = _records(tmp_path / "whole"), _records(killed)
    assert len(resumed) == 24 and resumed == whole
    assert all(r["fingerprint"] and "name" not in r["model"] for r in resumed)
    report = json.loads((killed / "report.json").read_text())
    assert sum(row["episodes"] for row in report["results"]) == 24


def test_another_configuration_is_refused_in_the_same_directory(tmp_path):
    from physgen.config import ConfigError
    from physgen.evaluation.run import PolicySpec, evaluate_resumable

    evaluate_resumable([PolicySpec.parse("x=chance")], ["stability"], 1, 0, "train", tmp_path)
    assert len(evaluate_resumable([PolicySpec.parse("x=chance")], ["stability"], 2, 0, "train", tmp_path)) == 2
    with pytest.raises(ConfigError, match="another configuration"):
        evaluate_resumable([PolicySpec.parse("x=expert")], ["stability"], 2, 0, "train", tmp_path)


def test_the_matrix_compares_rows_scene_by_scene():
    from physgen.evaluation.matrix import transfer_matrix

    def rec(policy, split, seed, success, reason="ok"):
        return {"policy": policy, "task": "shift", "split": split, "seed": seed, "success": success,
                "reward": float(success), "reason": reason}

    records = [rec("base", "train", s, s % 2 == 0) for s in range(4)] + \
        [rec("sft", "train", s, True) for s in range(4)] + [rec("sft", "heldout", 0, False, "unparseable")]
    m = transfer_matrix(records, base="base")
    assert m.rows == ["base", "sft"] and m.columns == ["shift", "shift (held-out)"]
    cell = m.cells[("sft", "shift")]
    assert (cell.n, cell.successes, cell.paired) == (4, 4, 4) and cell.diff[0] == 0.5
    held = m.cells[("sft", "shift (held-out)")]
    assert held.paired == 0 and held.diff is None and held.parse_failures == 1
    assert m.cells[("base", "shift")].diff is None and "vs base" in m.table()


def _eval(*argv: str) -> int:
    from physgen.cli import main

    return main(["eval", "--policy", "expert", "--policy", "chance", "--tasks", "stability,fall_direction:4",
                 "--episodes", "3", "--seed", "2", "--splits", "train,heldout", *argv])


def test_shards_hold_whole_scenes_and_merge_into_the_unsharded_run(tmp_path, capsys):
    from physgen.evaluation.shards import Shard

    assert _eval("--out", str(tmp_path / "whole")) == 0
    for i in range(3):
        assert _eval("--out", str(tmp_path / f"s{i}"), "--shard", f"{i}/3") == 0
    scenes = [{(r["split"], r["task"], r["seed"]) for r in _records(tmp_path / f"s{i}")} for i in range(3)]
    assert not (scenes[0] & scenes[1] or scenes[0] & scenes[2] or scenes[1] & scenes[2])  # disjoint
    for i in range(3):  # whole scenes: both policies on every scene of a shard
        assert [r["policy"] for r in _records(tmp_path / f"s{i}")] == ["expert", "chance"] * len(scenes[i])
    capsys.readouterr()
    assert main_merge(tmp_path, "s2", "s0", "s1") == 0  # any order of directories
    assert "merged 3 shards: 28 episodes" in capsys.readouterr().err
    assert _records(tmp_path / "merged") == _records(tmp_path / "whole")  # the unsharded run's order too
    whole, merged = (json.loads((tmp_path / d / "matrix.json").read_text()) for d in ("whole", "merged"))
    assert merged == whole and (tmp_path / "merged" / "matrix.csv").read_text() == \
        (tmp_path / "whole" / "matrix.csv").read_text()
    assert Shard.parse("2/3").part(1, 2) == Shard(5, 6)  # a worker's share of a shard is a shard of the run


def main_merge(tmp_path: Path, *dirs: str, out: str = "merged") -> int:
    from physgen.cli import main

    return main(["eval", "merge", "--out", str(tmp_path / out), *(str(tmp_path / d) for d in dirs)])


def test_merge_refuses_shards_that_are_not_one_whole_run(tmp_path, capsys):
    for i in range(2):
        assert _eval("--out", str(tmp_path / f"s{i}"), "--shard", f"{i}/2") == 0
    assert _eval("--out", str(tmp_path / "other"), "--shard", "1/2", "--seed", "9") == 0
    capsys.readouterr()
    assert main_merge(tmp_path, "s0", out="m1") == 2  # shard 1/2 missing
    assert "exactly once" in capsys.readouterr().err
    assert main_merge(tmp_path, "s0", "other", out="m2") == 2  # another run
    assert "one run" in capsys.readouterr().err
    lines = (tmp_path / "s1" / "episodes.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "s1" / "episodes.jsonl").write_text("".join(lines[:-1]))  # a shard that was stopped early
    assert main_merge(tmp_path, "s0", "s1", out="m3") == 2
    assert "1 episodes missing" in capsys.readouterr().err
    assert _eval("--out", str(tmp_path / "s1"), "--shard", "1/2") == 0  # resumed: the one episode runs
    assert main_merge(tmp_path, "s0", "s1", out="m4") == 0
    assert _eval("--out", str(tmp_path / "s1"), "--shard", "0/2") == 2  # its directory is shard 1/2's
    for bad in ("3/3", "1", "a/2", "-1/2"):
        assert _eval("--out", str(tmp_path / "x"), f"--shard={bad}") == 2
    assert "shard" in capsys.readouterr().err


def test_one_progress_bar_counts_what_workers_append(tmp_path):
    from physgen.evaluation.progress import EpisodeBar, PartFollower

    part = tmp_path / "episodes.jsonl"
    follower = PartFollower([part, tmp_path / "absent.jsonl"])
    assert follower.new_records() == []
    part.write_text('{"error": "", "reason": "ok"}\n{"error": "timeout_answer", "reason": ""}\n{"err')
    got = follower.new_records()
    assert len(got) == 2  # the line still being written waits for its newline
    with part.open("a") as f:
        f.write('or": "", "reason": "no_answer"}\n')
    got += follower.new_records()
    with EpisodeBar(3, enabled=False) as bar:
        for r in got:
            bar.add(r)
        assert (bar.errors, bar.unparsed) == (1, 1)
