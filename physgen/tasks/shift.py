"""(b) Top-block shift, the study's second task: the top block is misaligned and held; by how many
centimetres must it move (right positive) so the tower stands? The arm moves it; physics judges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physgen.config import in_range, interval
from physgen.motion.commands import Pick, Place
from physgen.tasks.base import Instance, Judgement, OracleResult, Plan, Task
from physgen.tasks.codec import AnswerFormat
from physgen.tasks.registry import register
from physgen.tasks.towers import (
    best_central,
    com_rule,
    cube,
    distance_to_valid,
    levels_of,
    pick_colours,
    stack,
    tower_scene,
)


@dataclass(frozen=True)
class ShiftParams:
    min_margin: float = 0.004  # m; the shown tower falls by at least this, the lower part stands by it
    base_offset: float = 0.25  # lower levels' offsets, fraction of block width
    top_offset: tuple[float, float] = (0.6, 0.95)  # top block offset range, fraction of block width
    max_shift: int = 10  # cm; answers range over [-max_shift, max_shift]

    def __post_init__(self) -> None:
        in_range("min_margin", self.min_margin, 0.0, 0.05)
        in_range("base_offset", self.base_offset, 0.0, 0.5)
        interval("top_offset", self.top_offset, 0.0, 1.0)
        in_range("max_shift", self.max_shift, 1, 30)


@register
class Shift(Task):
    name = "shift"
    summary = "the misaligned top block is held; say how far to move it so the tower stands"
    embodied = True
    Params = ShiftParams

    @property
    def answer_format(self) -> AnswerFormat:
        m = self.params.max_shift
        return AnswerFormat("int", count=1, low=-m, high=m, unit="cm")

    def sample_scene(self, rng, variant):
        p = self.params
        n = int(variant["n_blocks"])
        size = cube(variant)
        colours = pick_colours(rng, variant, n)
        for _ in range(10000):
            ys = [0.0, *np.cumsum(rng.uniform(-p.base_offset, p.base_offset, n - 2) * size[1]).tolist()]
            top = ys[-1] + rng.choice([-1, 1]) * rng.uniform(*p.top_offset) * size[1]
            blocks = stack(colours, colours, [size] * n, [*ys, top], held=[False] * (n - 1) + [True])
            base_ok = n < 3 or com_rule(levels_of(blocks[:-1])).margin >= p.min_margin
            whole = com_rule(levels_of(blocks))
            if base_ok and whole.margin <= -p.min_margin and self._fixable(blocks):
                break
        else:
            raise RuntimeError("could not sample a shift scene")
        top_name = blocks[-1].name
        prompt = (
            f"The image shows a tower of {n} blocks. The top block ({top_name}) is held in place; if it were "
            "let go, the tower would fall. By how many centimetres should the robot move the top block to "
            f"the right so that the tower stands? Use a negative number to move it left. Answer with one "
            f"integer from {-p.max_shift} to {p.max_shift}."
        )
        facts = {"top": top_name, "ys": [b.position[1] for b in blocks], "margin_m": whole.margin}
        return tower_scene(blocks, variant, self.variants), prompt, facts

    def _fixable(self, blocks) -> bool:
        """Some integer shift gives an analytic margin of at least min_margin."""
        return any(com_rule(levels_of(self._moved(blocks, s))).margin >= self.params.min_margin
                   for s in range(-self.params.max_shift, self.params.max_shift + 1))

    @staticmethod
    def _moved(blocks, s_cm: int):
        top = blocks[-1]
        x, y, z = top.position
        return [*blocks[:-1], type(top)(top.name, top.size, (x, y + s_cm / 100, z), top.colour)]

    def _target(self, inst: Instance, s_cm: int):
        x, y, z = inst.scene.block(inst.facts["top"]).position
        return (x, y + s_cm / 100.0, z)

    def plan(self, inst: Instance, answer) -> Plan:
        top, target = inst.facts["top"], self._target(inst, answer[0])
        return Plan((Pick(top), Place(top, target)), targets={top: target})

    def oracle(self, inst: Instance, sandbox) -> OracleResult:
        sandbox.start(inst.scene)
        top = inst.facts["top"]
        m = self.params.max_shift
        valid = {s: sandbox.trial({top: self._target(inst, s)}).stood for s in range(-m, m + 1)}
        ys = inst.facts["ys"]
        centre = round((ys[-2] - ys[-1]) * 100)
        best = best_central(valid, centre)
        best = centre if best is None else best
        return OracleResult((best,), {(s,): v for s, v in valid.items()}, {"valid": [s for s, v in valid.items() if v]})

    def judge(self, inst, answer, plan, settle, oracle) -> Judgement:
        if settle.stood:
            return Judgement(True, 1.0)
        d = distance_to_valid(oracle.candidates, answer)
        return Judgement(False, 0.5 * max(0.0, 1.0 - d / 5.0), {"cm_to_valid": d})
