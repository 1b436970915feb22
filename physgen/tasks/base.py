"""The task contract. A task = seeded scene sampler + prompt + answer format + physics oracle +
reward/success. Tasks register by name; each has a module here and a YAML file in ``sim/tasks/``.

An episode goes: ``sample`` -> render -> policy text -> codec ``parse`` -> ``plan`` (arm commands)
-> execute -> ``release`` -> settle -> ``judge``. The one loop doing that is
:func:`physgen.evaluation.episode.run_episode`; tasks only supply the pieces.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from physgen.cell.cell import SettleResult
from physgen.cell.scene import SceneSpec
from physgen.motion.commands import Command
from physgen.tasks.codec import Answer, AnswerFormat
from physgen.tasks.variants import VariantSpace
from physgen.types import SPLITS, stable_hash


@dataclass(frozen=True)
class Instance:
    """One sampled problem: the scene, the prompt, the variant, and the task's hidden facts."""

    task: str
    seed: int
    split: str
    scene: SceneSpec
    prompt: str
    variant: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)  # task-specific latent truth (geometry, margins)


@dataclass(frozen=True)
class Plan:
    """What to do with an answer: arm commands, which blocks form the structure to judge, where
    the commands mean to leave blocks (``targets``; others should stay where the scene put them),
    and an optional reason why the answer cannot be executed (the episode then fails, no motion)."""

    commands: tuple[Command, ...] = ()
    structure: tuple[str, ...] | None = None  # blocks whose standing decides; None = all
    targets: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    invalid: str = ""


@dataclass(frozen=True)
class OracleResult:
    """The best answer found by simulating, and the verdict on every candidate tried."""

    best: Answer
    candidates: dict[Answer, bool]  # answer -> it succeeds when executed from the start state
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Judgement:
    success: bool
    reward: float
    details: dict[str, Any] = field(default_factory=dict)


class Task(abc.ABC):
    """Base class of every task. Subclasses set ``name``, ``summary``, ``embodied`` and implement
    ``sample_scene``, ``answer_format``, ``plan``, ``oracle`` and ``judge``."""

    name: ClassVar[str]
    summary: ClassVar[str]
    embodied: ClassVar[bool]

    def __init__(self, params: dict[str, Any], variants: VariantSpace, format_penalty: float):
        self.params = params
        self.variants = variants
        self.format_penalty = format_penalty

    @property
    @abc.abstractmethod
    def answer_format(self) -> AnswerFormat: ...

    def sample(self, seed: int, split: str = "train") -> Instance:
        """The instance for ``(seed, split)``; deterministic."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r}: expected one of {SPLITS}")
        rng = np.random.default_rng([seed, SPLITS.index(split), stable_hash(self.name)])
        variant = self.variants.draw(rng, split)
        scene, prompt, facts = self.sample_scene(rng, variant)
        return Instance(self.name, seed, split, scene, prompt, variant, facts)

    @abc.abstractmethod
    def sample_scene(self, rng: np.random.Generator, variant: dict[str, Any]) -> tuple[SceneSpec, str, dict]: ...

    @abc.abstractmethod
    def plan(self, inst: Instance, answer: Answer) -> Plan: ...

    @abc.abstractmethod
    def oracle(self, inst: Instance, sandbox) -> OracleResult:
        """Find the best answer by simulating candidates in ``sandbox`` (a :class:`Sandbox`)."""

    @abc.abstractmethod
    def judge(self, inst: Instance, answer: Answer, plan: Plan, settle: SettleResult,
              oracle: OracleResult) -> Judgement: ...

    def describe(self) -> str:
        return f"{self.name}: {self.summary} (answer: {self.answer_format.describe()})"
