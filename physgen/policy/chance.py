"""The chance baseline: a uniformly random answer of the right format. Its success is the floor."""

from __future__ import annotations

import numpy as np

from physgen.policy.base import Observation, Policy
from physgen.tasks.codec import render
from physgen.types import stable_hash


class ChancePolicy(Policy):
    name = backend = "chance"
    uses_image = False

    def __init__(self, seed: int = 0):
        self.seed = seed

    def act(self, obs: Observation) -> str:
        rng = np.random.default_rng([self.seed, obs.seed, stable_hash(obs.task)])
        fmt = obs.answer_format
        if fmt.kind == "choice":
            return render(fmt.choices[int(rng.integers(len(fmt.choices)))], fmt)
        return render(tuple(int(v) for v in rng.integers(fmt.low, fmt.high + 1, fmt.count)), fmt)

    def describe(self) -> dict:
        return {**super().describe(), "seed": self.seed}
