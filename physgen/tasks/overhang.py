"""Maximum stable overhang: a plank lies centred on a block tower; how far (whole cm) can its right
end stick out past the edge of the block below before it tips? The arm slides it there."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physgen.cell.scene import BlockSpec
from physgen.config import in_range, interval
from physgen.motion.commands import Pick, Place
from physgen.tasks.base import Instance, Judgement, OracleResult, Plan, Task
from physgen.tasks.codec import AnswerFormat
from physgen.tasks.registry import register
from physgen.tasks.towers import TOWER_X, cube, pick_colours, stack, tower_scene


@dataclass(frozen=True)
class OverhangParams:
    length: tuple[float, float] = (0.07, 0.15)  # m, plank length (along the image's horizontal)
    width: float = 0.04  # m, plank depth (the fingers close across it)
    thickness: float = 0.03  # m
    min_fraction: float = 0.3  # half-length in cm keeps at least this far from a whole number
    max_answer: int = 12

    def __post_init__(self) -> None:
        interval("length", self.length, 0.04, 0.3)
        in_range("width", self.width, 0.02, 0.07)
        in_range("thickness", self.thickness, 0.01, 0.06)
        in_range("min_fraction", self.min_fraction, 0.0, 0.49)
        in_range("max_answer", self.max_answer, 1, 30)


@register
class Overhang(Task):
    name = "overhang"
    summary = "slide the plank on top right: the largest whole-cm overhang at which it stays"
    embodied = True
    Params = OverhangParams

    @property
    def answer_format(self) -> AnswerFormat:
        return AnswerFormat("int", count=1, low=0, high=self.params.max_answer, unit="cm")

    def sample_scene(self, rng, variant):
        p = self.params
        n = int(variant["n_blocks"])
        size = cube(variant)
        colours = pick_colours(rng, variant, n + 1)
        while True:
            length = float(rng.uniform(*p.length))
            frac = (length * 50.0) % 1.0  # half-length in cm, fractional part
            if p.min_fraction <= frac <= 1.0 - p.min_fraction and length * 50.0 < p.max_answer:
                break
        tower = stack(colours[:n], colours[:n], [size] * n, [0.0] * n)
        height = n * size[2]
        plank = BlockSpec(colours[n], (p.width, length, p.thickness), (TOWER_X, 0.0, height + p.thickness / 2),
                          colours[n], density=400.0)
        prompt = (
            f"The image shows a {plank.name} plank lying centred on a tower of {n} block{'s' if n > 1 else ''}. "
            "The robot will slide the plank to the right. How far, in whole centimetres, can the plank's right "
            "end stick out past the right edge of the block below it without the plank tipping over? Give the "
            f"largest such overhang as one integer from 0 to {p.max_answer}."
        )
        facts = {"plank": plank.name, "length": length, "support_half": size[1] / 2,
                 "analytic_max": int(np.floor(length * 50.0))}
        return tower_scene([*tower, plank], variant, self.variants), prompt, facts

    def _target(self, inst: Instance, overhang_cm: int):
        f = inst.facts
        x, _, z = inst.scene.block(f["plank"]).position
        return (x, f["support_half"] + overhang_cm / 100.0 - f["length"] / 2, z)

    def plan(self, inst: Instance, answer) -> Plan:
        plank, target = inst.facts["plank"], self._target(inst, answer[0])
        return Plan((Pick(plank), Place(plank, target)), targets={plank: target})

    def oracle(self, inst: Instance, sandbox) -> OracleResult:
        sandbox.start(inst.scene)
        plank = inst.facts["plank"]
        valid = {a: sandbox.trial({plank: self._target(inst, a)}).stood for a in range(self.params.max_answer + 1)}
        ok = [a for a, v in valid.items() if v]
        best = max(ok) if ok else inst.facts["analytic_max"]
        return OracleResult((best,), {(a,): v for a, v in valid.items()}, {"valid": ok})

    def judge(self, inst, answer, plan, settle, oracle) -> Judgement:
        best = oracle.best[0]
        if not settle.stood:
            return Judgement(False, 0.0, {"max": best})
        return Judgement(answer[0] == best, min(1.0, answer[0] / best) if best > 0 else 1.0, {"max": best})
