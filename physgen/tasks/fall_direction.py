"""Fall direction: this held tower will fall when let go; which way, left or right in the image?"""

from __future__ import annotations

from physgen.tasks.base import Instance, Judgement, OracleResult, Plan, Task
from physgen.tasks.codec import AnswerFormat
from physgen.tasks.registry import register
from physgen.tasks.stability import TowerParams, sample_tower
from physgen.tasks.towers import tower_scene


def fall_side(inst: Instance, final_positions: dict) -> str:
    """Which way the blocks above the failing support moved, by their mean lateral displacement."""
    moved = inst.facts["order"][inst.facts["level"] + 1:]
    dy = sum(final_positions[n][1] - inst.scene.block(n).position[1] for n in moved)
    return "right" if dy > 0 else "left"


@register
class FallDirection(Task):
    name = "fall_direction"
    summary = "a tower that will fall is held; which way will it fall, left or right?"
    embodied = False
    Params = TowerParams

    @property
    def answer_format(self) -> AnswerFormat:
        return AnswerFormat("choice", ("left", "right"))

    def sample_scene(self, rng, variant):
        blocks, verdict = sample_tower(rng, variant, self.params, stable=False)
        prompt = (
            f"The image shows a tower of {len(blocks)} blocks, held still for a moment. When it is let go it "
            "will fall. Which way will it fall, as seen in the image? Answer with one word: left or right."
        )
        facts = {"order": [b.name for b in blocks], "level": verdict.level, "margin_m": verdict.margin,
                 "analytic_side": "right" if verdict.direction > 0 else "left"}
        return tower_scene(blocks, variant, self.variants), prompt, facts

    def plan(self, inst: Instance, answer) -> Plan:
        return Plan()

    def oracle(self, inst: Instance, sandbox) -> OracleResult:
        sandbox.start(inst.scene)
        settle = sandbox.trial({}, stop_on_fall=False)
        side = fall_side(inst, settle.final_positions)
        return OracleResult(side, {"left": side == "left", "right": side == "right"}, {"fell": not settle.stood})

    def judge(self, inst, answer, plan, settle, oracle) -> Judgement:
        if settle.stood:
            return Judgement(False, 0.0, {"fell": False})
        side = fall_side(inst, settle.final_positions)
        return Judgement(answer == side, 1.0 if answer == side else 0.0, {"fell": True, "side": side})
