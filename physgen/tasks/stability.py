"""(a) Stability, the study's first task: will this tower fall when let go? Answer yes or no."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physgen.cell.cell import SettleResult
from physgen.config import in_range
from physgen.tasks.base import Instance, Judgement, OracleResult, Plan, Task
from physgen.tasks.codec import AnswerFormat
from physgen.tasks.registry import register
from physgen.tasks.towers import com_rule, cube, levels_of, pick_colours, stack, tower_scene


@dataclass(frozen=True)
class TowerParams:
    min_margin: float = 0.004  # m; sampled towers are at least this far from the tipping point
    max_offset: float = 0.7  # per-level lateral offset, as a fraction of the block width
    p_stable: float = 0.5

    def __post_init__(self) -> None:
        in_range("min_margin", self.min_margin, 0.0, 0.05)
        in_range("max_offset", self.max_offset, 0.0, 1.0)
        in_range("p_stable", self.p_stable, 0.0, 1.0)


def sample_tower(rng: np.random.Generator, variant: dict, params: TowerParams, stable: bool):
    """A held tower of ``variant['n_blocks']`` blocks whose analytic verdict is ``stable``, non-marginal."""
    n = int(variant["n_blocks"])
    size = cube(variant)
    colours = pick_colours(rng, variant, n)
    names = colours
    for _ in range(10000):
        steps = rng.uniform(-params.max_offset, params.max_offset, n - 1) * size[1]
        ys = [0.0, *np.cumsum(steps).tolist()]
        blocks = stack(names, colours, [size] * n, ys, held=True)
        verdict = com_rule(levels_of(blocks))
        if verdict.stable == stable and abs(verdict.margin) >= params.min_margin:
            return blocks, verdict
    raise RuntimeError("could not sample a tower with the requested stability")


@register
class Stability(Task):
    name = "stability"
    summary = "a tower of blocks is held still; will it fall when let go?"
    embodied = False
    Params = TowerParams

    @property
    def answer_format(self) -> AnswerFormat:
        return AnswerFormat("choice", ("yes", "no"))

    def sample_scene(self, rng, variant):
        stable = bool(rng.random() < self.params.p_stable)
        blocks, verdict = sample_tower(rng, variant, self.params, stable)
        prompt = (
            f"The image shows a tower of {len(blocks)} blocks on a table, held still for a moment. "
            "When it is let go, will the tower fall over? Answer with one word: yes or no."
        )
        facts = {"analytic_stable": verdict.stable, "margin_m": verdict.margin, "order": [b.name for b in blocks]}
        return tower_scene(blocks, variant, self.variants), prompt, facts

    def plan(self, inst: Instance, answer) -> Plan:
        return Plan()

    def oracle(self, inst: Instance, sandbox) -> OracleResult:
        sandbox.start(inst.scene)
        fell = not sandbox.trial({}).stood
        return OracleResult("yes" if fell else "no", {"yes": fell, "no": not fell}, {"fell": fell})

    def judge(self, inst: Instance, answer, plan: Plan, settle: SettleResult, oracle: OracleResult) -> Judgement:
        correct = (answer == "yes") == (not settle.stood)
        return Judgement(correct, 1.0 if correct else 0.0, {"fell": not settle.stood})
