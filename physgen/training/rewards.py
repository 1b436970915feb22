"""Rewards from the physics: each completion is parsed by the one codec, executed by the arm from the
identical start state of its prompt's scene, settled and judged by the task (the one episode loop,
:func:`physgen.evaluation.episode.finish`).

:class:`RewardPool` spreads a batch over worker processes, each owning a robot cell. A worker that
dies is replaced and its unfinished completions are run again; every completion's result is taken
exactly once, so none is scored twice or dropped.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import pickle
import time
from dataclasses import dataclass, field

import numpy as np

from physgen.cell.config import CellConfig
from physgen.tasks.captions import CAPTIONS

CAPTION_FORMAT_PENALTY = -0.5  # as every task's format_penalty in sim/tasks/*.yaml


@dataclass(frozen=True)
class RewardJob:
    """One completion to score: the scene (task, seed, split) and the model's text; with ``frame``,
    the result carries the camera frame of the settled scene after the attempt (multi-step GRPO)."""

    task: str
    seed: int
    split: str
    text: str
    frame: bool = False

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
    frame: np.ndarray | None = field(default=None, repr=False, compare=False)  # when the job asked for it


def caption_reward(seed: int, text: str) -> tuple[float, bool, str]:
    """(reward, success, codec reason) of ``text`` answering caption ``seed`` (rehearsal prompts in
    GRPO): 1 for the right answer, 0 for a wrong one, the suite's format penalty when it does not parse."""
    from physgen.tasks.captions import caption
    from physgen.tasks.codec import parse

    c = caption(seed)
    got = parse(text, c.format)
    if not got.ok:
        return CAPTION_FORMAT_PENALTY, False, got.reason
    right = got.answer == parse(c.answer, c.format).answer
    return (1.0 if right else 0.0), right, got.reason


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
        if job.task == CAPTIONS:
            reward, success, reason = caption_reward(job.seed, job.text)
            return RewardResult(reward, success, reason, time.perf_counter() - t0, worker)
        if self._scene is None or self._scene[0] != job.scene:
            task = load_task(job.task)
            inst = task.sample(job.seed, job.split)
            self.cell.load(inst.scene)
            self._scene = (job.scene, task, inst, self.cell.save())
        _, task, inst, snapshot = self._scene
        self.cell.restore(snapshot)  # the first completion too: all start from the very same state
        rec = finish(self.cell, task, inst, job.text, self.oracles)
        frame = self.cell.render() if job.frame else None
        return RewardResult(rec.reward, rec.success, rec.reason, time.perf_counter() - t0, worker, frame)

    def close(self) -> None:
        self.oracles.close()
        self.cell.close()


def _worker_main(wid: int, jobs, results, cell_config) -> None:
    """A worker's loop: jobs from its own queue, results into its own pipe (a worker killed while it
    writes can then only break its own channel, never block the others)."""
    scorer = SceneScorer(cell_config)
    try:
        while True:
            item = jobs.get()
            if item is None:
                return
            job_id, job = item
            try:
                results.send((job_id, wid, scorer.score(job, wid), None))
            except Exception as e:  # noqa: BLE001 - sent to the parent, which raises it
                results.send((job_id, wid, None, f"{type(e).__name__}: {e}"))
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
        self._procs: list = [None] * workers
        self._queues: list = [None] * workers
        self._pipes: list = [None] * workers  # the parent's reading end of each worker's result pipe
        self._local = SceneScorer(cell_config) if workers == 0 else None
        for w in range(workers):
            self._start(w)

    def _start(self, w: int) -> None:
        self._queues[w] = self._ctx.Queue()
        self._pipes[w], sender = self._ctx.Pipe(duplex=False)
        self._procs[w] = self._ctx.Process(target=_worker_main, args=(w, self._queues[w], sender, self.cell_config),
                                           daemon=True)
        self._procs[w].start()
        sender.close()  # the worker holds the only writing end: its death closes the pipe

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
            ready = mp_connection.wait(self._pipes, timeout=self.poll_s)
            if not ready:
                self._revive(inflight)
                continue
            for pipe in ready:
                if pipe not in self._pipes:  # its worker was replaced in this round
                    continue
                try:
                    job_id, w, result, error = pipe.recv()
                except (EOFError, OSError, pickle.UnpicklingError):  # its worker died, maybe mid-message
                    self._revive(inflight, dead=self._pipes.index(pipe))
                    continue
                if error is not None:
                    raise RewardError(f"scoring {jobs[job_id]} failed in worker {w}: {error}")
                if job_id in done:  # a re-run of a job whose first result had already arrived
                    continue
                done[job_id] = result
                for box in inflight:
                    box.pop(job_id, None)
        return [done[i] for i in range(len(jobs))]

    def _revive(self, inflight: list[dict[int, RewardJob]], dead: int | None = None) -> None:
        """Replace every worker that has died (and ``dead``, whose pipe broke) and send it its
        unfinished jobs again."""
        for w, p in enumerate(self._procs):
            if p.is_alive() and w != dead:
                continue
            if self.restarts >= self.max_restarts:
                raise RewardError(f"reward worker {w} died (exit code {p.exitcode}) after {self.restarts} "
                                  "restarts; giving up")
            self.restarts += 1
            if p.is_alive():
                p.kill()
            p.join(timeout=10)
            self._pipes[w].close()
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
        for pipe in self._pipes:
            pipe.close()

    def __enter__(self) -> RewardPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# relative costs: building a scene; a completion the arm executes; one it does not
SCENE_COST, ARM_COST, STILL_COST = 3.0, 10.0, 1.0


def job_cost(job: RewardJob) -> float:
    """Relative cost of executing ``job``: an answer that moves the arm costs about ten times one that
    does not (an unparseable or invalid answer, or a task without motion), as measured by
    ``benchmarks/bench_grpo.py``."""
    from physgen.evaluation.episode import decide

    if job.task == CAPTIONS:
        return STILL_COST
    try:
        task, inst = _scene(job.task, job.seed, job.split)
        _, plan = decide(task, inst, job.text)
    except Exception:  # noqa: BLE001 - a job that fails fails in its worker, with its reason
        return STILL_COST
    return ARM_COST if plan.commands else STILL_COST


@functools.lru_cache(maxsize=256)
def _scene(task_name: str, seed: int, split: str):
    """A group's scene, sampled once for all its completions."""
    from physgen.tasks import load_task

    task = load_task(task_name)
    return task, task.sample(seed, split)


def _assign(jobs: list[RewardJob], workers: int) -> list[list[int]]:
    """Job indices per worker, balanced by cost (:func:`job_cost`, plus :data:`SCENE_COST` for each
    scene a worker builds): whole scenes first, the dearest to the least loaded worker; then the
    single job whose move shortens the batch most goes from the most to the least loaded worker,
    while one does."""
    costs = [job_cost(j) for j in jobs]
    groups: dict[tuple, list[int]] = {}
    for i in range(len(jobs)):
        groups.setdefault(jobs[i].scene, []).append(i)
    out: list[list[int]] = [[] for _ in range(workers)]

    def load(w: int) -> float:
        return sum(costs[i] for i in out[w]) + SCENE_COST * len({jobs[i].scene for i in out[w]})

    for ids in sorted(groups.values(), key=lambda ids: (-sum(costs[i] for i in ids), ids[0])):
        out[min(range(workers), key=lambda w: (load(w), w))].extend(ids)
    while True:
        hi = max(range(workers), key=lambda w: (load(w), -w))
        lo = min(range(workers), key=lambda w: (load(w), w))
        if hi == lo or len(out[hi]) < 2:
            break
        lh, ll = load(hi), load(lo)
        at_hi = [jobs[j].scene for j in out[hi]]
        at_lo = {jobs[j].scene for j in out[lo]}
        best, i = min((max(lh - costs[i] - (SCENE_COST if at_hi.count(jobs[i].scene) == 1 else 0.0),
                           ll + costs[i] + (0.0 if jobs[i].scene in at_lo else SCENE_COST)), i)
                      for i in sorted(out[hi]))
        if best >= lh:  # no single move shortens the batch
            break
        out[hi].remove(i)
        out[lo].append(i)
    return [sorted(ids, key=lambda i: (jobs[i].scene, i)) for ids in out]
