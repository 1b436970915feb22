"""The scripted expert: answers with the physics oracle's best answer. Its success is the ceiling."""

from __future__ import annotations

from physgen.policy.base import Observation, Policy
from physgen.tasks import load_task
from physgen.tasks.codec import render
from physgen.tasks.oracle import Oracles


class ExpertPolicy(Policy):
    name = backend = "expert"
    uses_image = False
    privileged = True

    def __init__(self, oracles: Oracles | None = None):
        self._own = oracles is None
        self.oracles = oracles or Oracles()

    def act(self, obs: Observation) -> str:
        if obs.instance is None:
            raise ValueError("the expert needs the privileged scene instance (Observation.instance)")
        task = load_task(obs.task)
        return render(self.oracles.get(task, obs.instance).best, obs.answer_format)

    def close(self) -> None:
        if self._own:
            self.oracles.close()
