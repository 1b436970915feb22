"""The one episode loop. Evaluation (in-process and over ROS) and RL all run episodes through here.

An episode is split in two halves so a remote policy can sit between them:
:func:`begin` (sample the scene, build it, render the frame) and :func:`finish` (parse the answer
with the codec, plan, execute on the arm, release, settle, judge). :func:`run_episode` joins them
around a local policy. Over ROS the second half is spread over nodes: the evaluation node runs
:func:`decide`, the executor node the motions, the cell node :func:`conclude`, and the evaluation
node :func:`assemble`s the same record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physgen.cell.cell import RobotCell
from physgen.motion.planner import execute
from physgen.policy.base import Observation, Policy
from physgen.tasks.base import Instance, Judgement, Plan, Task
from physgen.tasks.codec import Parsed, parse, render
from physgen.tasks.oracle import Oracles

RECORD_VERSION = 1


@dataclass
class EpisodeRecord:
    """Everything about one episode, JSON-ready via :meth:`to_dict` (schema ``version``)."""

    task: str
    seed: int
    split: str
    variant: dict[str, Any]
    prompt: str
    policy: str
    raw: str
    answer: Any
    reason: str
    success: bool
    reward: float
    oracle_best: str
    plan: dict[str, Any] = field(default_factory=dict)
    motions: list[dict] = field(default_factory=list)
    settle: dict[str, Any] = field(default_factory=dict)
    judgement: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    physics: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # why the episode could not run to its end (a step timed out, a node was gone)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["answer"] = list(self.answer) if isinstance(self.answer, tuple) else self.answer
        d["variant"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.variant.items()}
        return {"version": RECORD_VERSION, **d}


def begin(cell: RobotCell, task: Task, seed: int, split: str,
          frame: bool = True) -> tuple[Instance, np.ndarray | None]:
    """Sample ``(task, seed, split)``, build it in ``cell`` and render the frame the policy sees;
    ``frame`` false draws none and builds the scene without visual meshes (same physics)."""
    inst = task.sample(seed, split)
    cell.load(inst.scene, visual=frame)
    return inst, cell.render() if frame else None


def observation(task: Task, inst: Instance, image: np.ndarray) -> Observation:
    return Observation(image, inst.prompt, task.name, inst.seed, task.answer_format, inst)


@dataclass(frozen=True)
class Outcome:
    """What the physics decided once the arm was done: the cell's side of an episode."""

    success: bool
    reward: float
    oracle_best: str
    settle: dict[str, Any]
    judgement: dict[str, Any]
    physics: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def decide(task: Task, inst: Instance, text: str) -> tuple[Parsed, Plan]:
    """The answer through the one codec, and the plan it asks for."""
    parsed = parse(text, task.answer_format)
    return parsed, task.plan(inst, parsed.answer) if parsed.ok else Plan(invalid=parsed.reason)


def conclude(cell: RobotCell, task: Task, inst: Instance, parsed: Parsed, plan: Plan, oracles: Oracles) -> Outcome:
    """Let go, settle and judge; ``cell`` holds ``inst`` after the arm has run ``plan``."""
    oracle = oracles.get(task, inst)
    cell.release()
    reference = {b.name: b.position for b in inst.scene.blocks} | plan.targets
    settle = cell.settle(list(plan.structure) if plan.structure is not None else None, reference=reference)
    if not parsed.ok:
        judgement = Judgement(False, task.format_penalty, {"format_error": parsed.reason})
    elif plan.invalid:
        judgement = Judgement(False, 0.0, {"invalid_action": plan.invalid})
    else:
        judgement = task.judge(inst, parsed.answer, plan, settle, oracle)
    return Outcome(bool(judgement.success), float(judgement.reward), render(oracle.best, task.answer_format),
                   settle.to_dict(), judgement.details, cell.physics_record())


def assemble(task: Task, inst: Instance, parsed: Parsed, plan: Plan, motions: list[dict], outcome: Outcome,
             policy: str = "", latency: dict[str, float] | None = None) -> EpisodeRecord:
    """One episode's record from its parts, wherever they were computed (in-process or over ROS)."""
    return EpisodeRecord(
        task=task.name, seed=inst.seed, split=inst.split, variant=inst.variant, prompt=inst.prompt,
        policy=policy, raw=parsed.text, answer=parsed.answer, reason=parsed.reason,
        success=outcome.success, reward=outcome.reward, oracle_best=outcome.oracle_best,
        plan={"commands": [_command_dict(c) for c in plan.commands], "invalid": plan.invalid},
        motions=list(motions), settle=outcome.settle, judgement=outcome.judgement,
        latency=dict(latency or {}), physics=outcome.physics,
    )


def failed(task: Task, inst: Instance, error: str, policy: str = "", raw: str = "",
           latency: dict[str, float] | None = None) -> EpisodeRecord:
    """The record of an episode that could not run to its end: a failure, with ``error`` saying why."""
    parsed = parse(raw, task.answer_format)
    record = assemble(task, inst, parsed, Plan(invalid=error), [], Outcome(False, 0.0, "", {}, {}, {}), policy,
                      latency)
    record.error = error
    return record


def finish(cell: RobotCell, task: Task, inst: Instance, text: str, oracles: Oracles,
           policy: str = "", latency: dict[str, float] | None = None) -> EpisodeRecord:
    """Turn the answer ``text`` into an outcome in ``cell`` (which must still hold ``inst``)."""
    parsed, plan = decide(task, inst, text)
    motions = execute(cell, list(plan.commands)) if plan.commands else []
    outcome = conclude(cell, task, inst, parsed, plan, oracles)
    return assemble(task, inst, parsed, plan, [m.to_dict() for m in motions], outcome, policy, latency)


def run_episode(cell: RobotCell, task: Task, seed: int, split: str, policy: Policy,
                oracles: Oracles) -> EpisodeRecord:
    inst, image = begin(cell, task, seed, split, policy.uses_image)
    t0 = time.perf_counter()
    text = policy.act(observation(task, inst, image))
    latency = {"policy_s": time.perf_counter() - t0}
    return finish(cell, task, inst, text, oracles, policy.name, latency)


def _command_dict(cmd) -> dict[str, Any]:
    d = {"type": type(cmd).__name__.lower()}
    for k, v in cmd.__dict__.items():
        d[k] = [round(x, 5) for x in v] if isinstance(v, tuple) else v
    return d
