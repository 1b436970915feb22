"""Rewards from the physics: each completion is parsed by the one codec, executed by the arm from the
identical start state of its prompt's scene, settled and judged by the task (the one episode loop,
:func:`physgen.evaluation.episode.finish`).

:class:`RewardPool` spreads a batch over worker processes, each owning a robot cell. A worker that
dies is replaced and its unfinished completions are run again; every completion's result is taken
exactly once, so none is scored twice or dropped.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from dataclasses import dataclass

from physgen.cell.config import CellConfig


@dataclass(frozen=True)
class RewardJob:
    """One completion to score: the scene (task, seed, split) and the model's text."""

    task: str
    seed: int
    split: str
    text: str

    @property
    def scene(self) -> tuple[str, int, str]:
        return self.task, self.seed, self.split


@dataclass(frozen=True)
class RewardResult:
    reward: float
    success: bool
    reason: str  # the codec's reason code ("ok" when the answer parsed)
    seconds: float  # time to execute and judge it in the worker
    worker: int


class SceneScorer:
    """Scores completions in one cell; the start state of the last scene is kept as a snapshot, so
    every completion of a group starts from exactly the same state without rebuilding it."""

    def __init__(self, cell_config: CellConfig | None = None):
        from physgen.cell.cell import RobotCell
        from physgen.tasks.oracle import Oracles

        self.cell = RobotCell(cell_config)
        self.oracles = Oracles(self.cell.config.physics)
        self._scene = None  # (key, task, instance, snapshot)

    def score(self, job: RewardJob, worker: int = 0) -> RewardResult:
        from physgen.evaluation.episode import finish
        from physgen.tasks import load_task

        t0 = time.perf_counter()
        if self._scene is None or self._scene[0] != job.scene:
            task = load_task(job.task)
            inst = task.sample(job.seed, job.split)
            self.cell.load(inst.scene)
            self._scene = (job.scene, task, inst, self.cell.save())
        _, task, inst, snapshot = self._scene
        self.cell.restore(snapshot)  # the first completion too: all start from the very same state
        rec = finish(self.cell, task, inst, job.text, self.oracles)
        return RewardResult(rec.reward, rec.success, rec.reason, time.perf_counter() - t0, worker)

    def close(self) -> None:
        self.oracles.close()
        self.cell.close()


def _worker_main(wid: int, jobs, results, cell_config) -> None:
    scorer = SceneScorer(cell_config)
    try:
        while True:
            item = jobs.get()
            if item is None:
                return
            job_id, job = item
            try:
                results.put((job_id, wid, scorer.score(job, wid), None))
            except Exception as e:  # noqa: BLE001 - sent to the parent, which raises it
                results.put((job_id, wid, None, f"{type(e).__name__}: {e}"))
    finally:
        scorer.close()


class RewardError(RuntimeError):
    pass


class RewardPool:
    """``workers`` processes scoring :class:`RewardJob` batches in parallel (``workers=0``: in this
    process, no pool). Use as a context manager, or call :meth:`close`."""

    def __init__(self, workers: int = 1, cell_config: CellConfig | None = None, poll_s: float = 0.5,
                 max_restarts: int = 100):
        if workers < 0:
            raise ValueError(f"workers={workers}: expected 0 or more")
        self.n, self.cell_config, self.poll_s, self.max_restarts = workers, cell_config, poll_s, max_restarts
        self.restarts = 0
        self._ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
        self._results = self._ctx.Queue()
        self._procs: list = [None] * workers
        self._queues: list = [None] * workers
        self._local = SceneScorer(cell_config) if workers == 0 else None
        for w in range(workers):
            self._start(w)

    def _start(self, w: int) -> None:
        self._queues[w] = self._ctx.Queue()
        self._procs[w] = self._ctx.Process(target=_worker_main, args=(w, self._queues[w], self._results,
                                                                      self.cell_config), daemon=True)
        self._procs[w].start()

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def score(self, jobs: list[RewardJob]) -> list[RewardResult]:
        """Results in the order of ``jobs``. Identical jobs (same scene, same text: a group often
        repeats an answer) are executed once, as episodes are deterministic. Jobs of one scene go
        to as few workers as keep every worker busy, so each worker builds a scene once per batch."""
        unique = list(dict.fromkeys(jobs))
        results = dict(zip(unique, self._score(unique)))
        return [results[j] for j in jobs]

    def _score(self, jobs: list[RewardJob]) -> list[RewardResult]:
        if self._local is not None:
            return [self._local.score(j) for j in jobs]
        inflight: list[dict[int, RewardJob]] = [{} for _ in range(self.n)]
        for w, ids in enumerate(_assign(jobs, self.n)):
            for i in ids:
                inflight[w][i] = jobs[i]
                self._queues[w].put((i, jobs[i]))
        done: dict[int, RewardResult] = {}
        while len(done) < len(jobs):
            try:
                job_id, w, result, error = self._results.get(timeout=self.poll_s)
            except queue.Empty:
                self._revive(inflight)
                continue
            if error is not None:
                raise RewardError(f"scoring {jobs[job_id]} failed in worker {w}: {error}")
            if job_id in done:  # a re-run of a job whose first result had already arrived
                continue
            done[job_id] = result
            for box in inflight:
                box.pop(job_id, None)
        return [done[i] for i in range(len(jobs))]

    def _revive(self, inflight: list[dict[int, RewardJob]]) -> None:
        for w, p in enumerate(self._procs):
            if p.is_alive():
                continue
            if self.restarts >= self.max_restarts:
                raise RewardError(f"reward worker {w} died (exit code {p.exitcode}) after {self.restarts} "
                                  "restarts; giving up")
            self.restarts += 1
            self._start(w)
            for i, job in sorted(inflight[w].items()):
                self._queues[w].put((i, job))

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
        for q in self._queues:
            q.put(None)
        for p in self._procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()

    def __enter__(self) -> RewardPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _assign(jobs: list[RewardJob], workers: int) -> list[list[int]]:
    """Job indices per worker: contiguous runs of equal scenes split evenly, so a scene is built by
    as few workers as possible while every worker gets a share."""
    per = -(-len(jobs) // workers)
    out: list[list[int]] = [[] for _ in range(workers)]
    order = sorted(range(len(jobs)), key=lambda i: (jobs[i].scene, i))
    for k, i in enumerate(order):
        out[min(k // per, workers - 1)].append(i)
    return out
