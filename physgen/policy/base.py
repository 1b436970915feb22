"""The policy contract: an observation (image + prompt) in, answer text out."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from physgen.tasks.base import Instance
from physgen.tasks.codec import AnswerFormat


@dataclass(frozen=True)
class Observation:
    """What a policy is given. ``instance`` is privileged (the hidden scene facts): only scripted
    policies such as the expert may use it; a model policy must answer from ``image`` and ``prompt``.
    ``image`` is None for a policy that does not use it (``Policy.uses_image`` false)."""

    image: np.ndarray | None
    prompt: str
    task: str
    seed: int
    answer_format: AnswerFormat
    instance: Instance | None = None


class Policy(abc.ABC):
    """Answers observations with text; the codec turns the text into an action."""

    name: str = "policy"
    backend: str = "policy"  # what answers: expert, chance, transformers, ...
    uses_image: bool = True  # False: answers without the frame (scripted policies), so no frame is drawn
    privileged: bool = False  # answers from Observation.instance (scripted policies); a model never does

    @abc.abstractmethod
    def act(self, obs: Observation) -> str: ...

    def act_batch(self, batch: list[Observation]) -> list[str]:
        return [self.act(o) for o in batch]

    def describe(self) -> dict:
        return {"name": self.name, "backend": type(self).backend}

    def close(self) -> None:
        """Free resources (models, cells); the default has none."""
        return None
