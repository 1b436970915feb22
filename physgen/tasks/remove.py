"""Which block to remove: one of several held towers would fall because of its top block; name the
top block the robot should take away so that every tower stands. The arm removes it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physgen.cell.scene import COLOURS
from physgen.config import in_range, interval
from physgen.motion.commands import Pick, Place
from physgen.tasks.base import Instance, Judgement, OracleResult, Plan, Task
from physgen.tasks.codec import AnswerFormat
from physgen.tasks.registry import register
from physgen.tasks.towers import com_rule, cube, levels_of, pick_colours, stack, tower_scene

ASIDE_X = 0.4  # where removed blocks are put down, between the robot and the towers


@dataclass(frozen=True)
class RemoveParams:
    min_margin: float = 0.004
    spacing: float = 0.11  # m between tower axes
    max_offset: float = 0.3  # stable towers' offsets, fraction of block width
    top_offset: tuple[float, float] = (0.6, 0.95)  # the culprit's top-block offset, fraction of width

    def __post_init__(self) -> None:
        in_range("min_margin", self.min_margin, 0.0, 0.05)
        in_range("spacing", self.spacing, 0.09, 0.2)
        in_range("max_offset", self.max_offset, 0.0, 0.5)
        interval("top_offset", self.top_offset, 0.0, 1.0)


@register
class Remove(Task):
    name = "remove"
    summary = "several towers are held; name the top block to take away so that every tower stands"
    embodied = True
    Params = RemoveParams

    @property
    def answer_format(self) -> AnswerFormat:
        return AnswerFormat("choice", tuple(COLOURS))

    def sample_scene(self, rng, variant):
        p = self.params
        n_towers, per_tower = (int(v) for v in variant["layout"])
        size = cube(variant)
        colours = pick_colours(rng, variant, n_towers * per_tower)
        culprit = int(rng.integers(n_towers))
        centres = (np.arange(n_towers) - (n_towers - 1) / 2) * p.spacing
        for _ in range(1000):
            towers = [self._tower(rng, colours[t * per_tower:(t + 1) * per_tower], size, yc, t == culprit)
                      for t, yc in enumerate(centres)]
            if _apart(towers, gap=0.01):
                break
        else:
            raise RuntimeError("could not sample towers that keep apart")
        blocks = [b for tower in towers for b in tower]
        tops = [tower[-1].name for tower in towers]
        prompt = (
            f"The image shows {n_towers} towers of blocks, held still for a moment. When they are let go, one "
            "of them would fall. The robot can take one block off the top of a tower. Which block should it "
            "take away so that every tower stands? Answer with the block's colour, one word."
        )
        facts = {"tops": tops, "culprit": tops[culprit], "blocks": [b.name for b in blocks]}
        return tower_scene(blocks, variant, self.variants), prompt, facts

    def _tower(self, rng, names, size, yc: float, culprit: bool):
        p, k = self.params, len(names)
        for _ in range(10000):
            steps = np.concatenate([[0.0], np.cumsum(rng.uniform(-p.max_offset, p.max_offset, k - 1))])
            if culprit:
                steps[-1] = steps[-2] + rng.choice([-1, 1]) * rng.uniform(*p.top_offset)
            tower = stack(names, names, [size] * k, [yc + s * size[1] for s in steps], held=True)
            whole, rest = com_rule(levels_of(tower)).margin, com_rule(levels_of(tower[:-1])).margin
            if culprit and whole <= -p.min_margin and (k < 3 or rest >= p.min_margin):
                return tower
            if not culprit and whole >= p.min_margin:
                return tower
        raise RuntimeError("could not sample a tower")

    def plan(self, inst: Instance, answer) -> Plan:
        if answer not in inst.facts["blocks"]:
            return Plan(invalid="unknown_block")
        if answer not in inst.facts["tops"]:
            return Plan(invalid="not_a_top_block")
        spec = inst.scene.block(answer)
        aside = (ASIDE_X, spec.position[1], spec.size[2] / 2)
        rest = tuple(n for n in inst.facts["blocks"] if n != answer)
        return Plan((Pick(answer), Place(answer, aside)), structure=rest)

    def oracle(self, inst: Instance, sandbox) -> OracleResult:
        sandbox.start(inst.scene)
        blocks = inst.facts["blocks"]
        valid = {top: sandbox.trial({top: None}, [n for n in blocks if n != top]).stood for top in inst.facts["tops"]}
        ok = [t for t, v in valid.items() if v]
        best = inst.facts["culprit"] if inst.facts["culprit"] in ok or not ok else ok[0]
        return OracleResult(best, valid, {"valid": ok})

    def judge(self, inst, answer, plan, settle, oracle) -> Judgement:
        return Judgement(settle.stood, 1.0 if settle.stood else 0.0)


def _apart(towers, gap: float) -> bool:
    """No two blocks of different towers come closer than ``gap`` along y."""
    for i, a in enumerate(towers):
        for b in towers[i + 1:]:
            for u in a:
                for v in b:
                    if abs(u.position[1] - v.position[1]) < (u.size[1] + v.size[1]) / 2 + gap:
                        return False
    return True
