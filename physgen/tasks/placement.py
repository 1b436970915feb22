"""(c) Side-block placement, the study's third task: a block lies beside the tower; answer where the
robot should release it (lateral position and height, in cm) so it rests on top and all stands."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physgen.cell.scene import BlockSpec
from physgen.config import in_range, interval
from physgen.motion.commands import Pick, Place
from physgen.tasks.base import Instance, Judgement, OracleResult, Plan, Task
from physgen.tasks.codec import AnswerFormat
from physgen.tasks.registry import register
from physgen.tasks.towers import (
    TOWER_X,
    com_rule,
    cube,
    distance_to_valid,
    levels_of,
    pick_colours,
    stack,
    tower_scene,
)


@dataclass(frozen=True)
class PlacementParams:
    min_margin: float = 0.004  # m; the tower stands by at least this before placing
    max_offset: float = 0.4  # per-level lateral offset, fraction of block width
    side_distance: tuple[float, float] = (0.11, 0.13)  # m from the tower axis to the side block
    window: int = 4  # cm around the top block the oracle searches laterally
    rest_tolerance: float = 0.01  # m; the placed block must rest this close to the tower top

    def __post_init__(self) -> None:
        in_range("min_margin", self.min_margin, 0.0, 0.05)
        in_range("max_offset", self.max_offset, 0.0, 0.6)
        interval("side_distance", self.side_distance, 0.08, 0.2)
        in_range("window", self.window, 1, 15)
        in_range("rest_tolerance", self.rest_tolerance, 0.001, 0.05)


@register
class Placement(Task):
    name = "placement"
    summary = "a block lies beside the tower; say where to release it on top so everything stands"
    embodied = True
    Params = PlacementParams

    @property
    def answer_format(self) -> AnswerFormat:
        return AnswerFormat("int", count=2, low=-20, high=40, unit="cm")

    def sample_scene(self, rng, variant):
        p = self.params
        n = int(variant["n_blocks"])
        size = cube(variant)
        colours = pick_colours(rng, variant, n + 1)
        for _ in range(10000):
            ys = [0.0, *np.cumsum(rng.uniform(-p.max_offset, p.max_offset, n - 1) * size[1]).tolist()]
            tower = stack(colours[:n], colours[:n], [size] * n, ys)
            if n == 1 or com_rule(levels_of(tower)).margin >= p.min_margin:
                break
        side_y = float(rng.choice([-1, 1]) * rng.uniform(*p.side_distance))
        side = BlockSpec(colours[n], size, (TOWER_X, side_y, size[2] / 2), colours[n])
        prompt = (
            f"The image shows a tower of {n} block{'s' if n > 1 else ''} and a {side.name} block lying beside "
            f"it. The robot will pick up the {side.name} block and let go of it on top of the tower. Where "
            "should it let go so the block stays on top and the tower stands? Answer with two integers in "
            "centimetres: first how far right of the bottom block's centre (negative for left), then how high "
            "above the table the bottom of the block should be when released."
        )
        height = sum(b.size[2] for b in tower)
        facts = {"side": side.name, "tower": [b.name for b in tower], "top_y": ys[-1], "height": height}
        return tower_scene([*tower, side], variant, self.variants, focus_z=0.1), prompt, facts

    def _target(self, inst: Instance, answer) -> tuple[float, float, float]:
        r, h = answer
        half = inst.scene.block(inst.facts["side"]).size[2] / 2
        return (TOWER_X, r / 100.0, h / 100.0 + half)

    def plan(self, inst: Instance, answer) -> Plan:
        side = inst.facts["side"]
        return Plan((Pick(side), Place(side, self._target(inst, answer))), structure=tuple(inst.facts["tower"]))

    def _rests_on_top(self, inst: Instance, settle) -> bool:
        f = inst.facts
        x, y, z = settle.final_positions[f["side"]]
        size = inst.scene.block(f["side"]).size
        return abs(z - (f["height"] + size[2] / 2)) < self.params.rest_tolerance and abs(y - f["top_y"]) < size[1] / 2

    def oracle(self, inst: Instance, sandbox) -> OracleResult:
        sandbox.start(inst.scene)
        f, w = inst.facts, self.params.window
        rc, hc = round(f["top_y"] * 100), round(f["height"] * 100)
        valid = {}
        for h in range(hc - 1, hc + 4):
            for r in range(rc - w, rc + w + 1):
                settle = sandbox.trial({f["side"]: self._target(inst, (r, h))}, f["tower"], stop_on_fall=True)
                valid[(r, h)] = settle.stood and self._rests_on_top(inst, settle)
        ok = [k for k, v in valid.items() if v]
        best = max(ok, key=lambda k: (_row_clearance(valid, k), -abs(k[1] - (hc + 1)), -abs(k[0] - rc))) if ok \
            else (rc, hc + 1)
        return OracleResult(best, valid, {"n_valid": len(ok)})

    def judge(self, inst, answer, plan, settle, oracle) -> Judgement:
        on_top = self._rests_on_top(inst, settle)
        if settle.stood and on_top:
            return Judgement(True, 1.0)
        d = distance_to_valid(oracle.candidates, answer)
        return Judgement(False, 0.5 * max(0.0, 1.0 - d / 5.0), {"cm_to_valid": d, "on_top": on_top})


def _row_clearance(valid: dict, key: tuple[int, int], cap: int = 3) -> int:
    """Lateral distance from ``key`` to the nearest invalid candidate in its height row (capped)."""
    r, h = key
    for d in range(1, cap + 1):
        if not valid.get((r - d, h), False) or not valid.get((r + d, h), False):
            return d
    return cap + 1
