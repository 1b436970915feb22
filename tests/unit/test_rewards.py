"""Rewards from the physics: the pool's rewards are the episode loop's; worker processes give the
same results as scoring in-process, and a killed worker is replaced without losing or double
counting a completion."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import pytest

from physgen.evaluation.episode import begin, finish
from physgen.tasks import load_task
from physgen.training.rewards import RewardError, RewardJob, RewardPool

TEXTS = ("left", "right", "I think it falls left", "banana", "")
JOBS = [RewardJob("fall_direction", 100000 + k, "train", t) for k in range(3) for t in TEXTS]


@pytest.fixture(scope="module")
def local_results():
    with RewardPool(0) as pool:
        return pool.score(JOBS)


def test_rewards_are_the_episode_loops(cell, oracles, local_results):
    task = load_task("fall_direction")
    for job, result in zip(JOBS, local_results):
        inst, _ = begin(cell, task, job.seed, job.split)
        record = finish(cell, task, inst, job.text, oracles)
        assert (result.reward, result.success, result.reason) == (record.reward, record.success, record.reason)
    unparsed = [r for j, r in zip(JOBS, local_results) if j.text in ("banana", "")]
    assert unparsed and all(r.reward == task.format_penalty and r.reason != "ok" for r in unparsed)


def test_worker_processes_give_the_same_rewards(local_results):
    with RewardPool(2) as pool:
        results = pool.score(JOBS)
    assert [(r.reward, r.success, r.reason) for r in results] == [(r.reward, r.success, r.reason)
                                                                    for r in local_results]
    assert {r.worker for r in results} == {0, 1}


def test_a_killed_worker_is_replaced_and_every_completion_counted_once():
    jobs = [RewardJob("fall_direction", 100000 + k, "train", t) for k in range(8) for t in TEXTS]
    with RewardPool(0) as pool:
        reference = pool.score(jobs)
    with RewardPool(2) as pool:
        pool.score(jobs[:1])  # both workers are up
        victim = pool.pids()[0]
        killer = threading.Timer(0.5, lambda: os.kill(victim, signal.SIGKILL))
        killer.start()
        t0 = time.monotonic()
        results = pool.score(jobs)
        killer.join()
        assert pool.restarts == 1 and pool.pids()[0] != victim
        assert time.monotonic() - t0 > 0.5  # the kill happened while the batch was being scored
    assert [(r.reward, r.reason) for r in results] == [(r.reward, r.reason) for r in reference]


def test_identical_completions_are_executed_once(local_results):
    with RewardPool(1) as pool:
        results = pool.score(JOBS + JOBS)
    assert [r.reward for r in results] == [r.reward for r in local_results] * 2
    assert results[0] is results[len(JOBS)]  # one execution, one result object


def test_a_failing_job_raises_with_its_reason():
    with RewardPool(1) as pool, pytest.raises(RewardError, match="nope"):
        pool.score([RewardJob("nope", 0, "train", "left")])


def test_jobs_are_split_by_cost_and_scenes_kept_together():
    from physgen.training.rewards import ARM_COST, _assign, job_cost

    arm = [RewardJob("shift", 100000, "train", t) for t in ("2", "-3", "0", "1")]
    still = [RewardJob("shift", 100000, "train", t) for t in ("x", "y", "z", "w")]
    assert {job_cost(j) for j in arm} == {ARM_COST} and max(job_cost(j) for j in still) < ARM_COST
    a, b = _assign(arm + still, 2)
    assert sorted(a + b) == list(range(8))
    assert sum(i < 4 for i in a) == sum(i < 4 for i in b) == 2  # the arm's motions split evenly
    two_scenes = [RewardJob("fall_direction", 100000 + k, "train", t) for k in range(2) for t in TEXTS]
    parts = _assign(two_scenes, 2)
    assert [{two_scenes[i].scene for i in ids} for ids in parts] == [{two_scenes[0].scene}, {two_scenes[5].scene}]


def test_workers_killed_while_sending_never_block_the_others():
    """Results come back whole when a worker is killed again and again, whatever it is doing (sending a
    large result, a frame, included): the other keeps delivering, and every completion counts once."""
    jobs = [RewardJob("fall_direction", 100000 + k, "train", t, frame=True) for k in range(12) for t in TEXTS]
    with RewardPool(0) as pool:
        reference = pool.score(jobs)
    with RewardPool(2) as pool:
        pool.score(jobs[:2])
        stop = threading.Event()

        def kill_repeatedly():  # from the batch's start: a batch takes a second or two
            for _ in range(4):
                if stop.wait(0.25):
                    return
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pool.pids()[1], signal.SIGKILL)

        killer = threading.Thread(target=kill_repeatedly)
        killer.start()
        try:
            results = pool.score(jobs)
        finally:
            stop.set()
            killer.join()
        assert pool.restarts >= 1
    assert [(r.reward, r.reason) for r in results] == [(r.reward, r.reason) for r in reference]
    assert all((r.frame == ref.frame).all() for r, ref in zip(results, reference))
