"""Ground-truth check: do the simulated labels agree with the analytic centre-of-mass rule?

Towers are sampled with no minimum margin, so marginal towers are included and counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physgen.cell.config import PhysicsConfig
from physgen.cell.scene import SceneSpec
from physgen.tasks import load_task
from physgen.tasks.stability import TowerParams, sample_tower
from physgen.tasks.towers import Sandbox, com_rule, levels_of, tower_scene


@dataclass(frozen=True)
class Agreement:
    n: int
    n_marginal: int
    agree_marginal: int
    agree_non_marginal: int
    marginal_threshold: float
    disagreements: list[dict]  # marginal and non-marginal, each flagged

    @property
    def rate(self) -> float:
        """Agreement on non-marginal towers."""
        m = self.n - self.n_marginal
        return self.agree_non_marginal / m if m else 1.0

    def to_dict(self) -> dict:
        return {
            "towers": self.n, "marginal": self.n_marginal, "marginal_threshold_m": self.marginal_threshold,
            "agreement_marginal": round(self.agree_marginal / self.n_marginal, 4) if self.n_marginal else None,
            "agreement_non_marginal": round(self.rate, 4),
            "disagreement_non_marginal": round(1 - self.rate, 4),
            "disagreements": self.disagreements,
            "cause": self.cause(),
        }

    def cause(self) -> str:
        """What the disagreements have in common, from the data."""
        if not self.disagreements:
            return "no disagreement at all"
        worst = max(abs(d["margin_m"]) for d in self.disagreements)
        sim_falls = sum(not d["sim_stable"] for d in self.disagreements)
        return (f"every disagreement is within {worst * 1000:.2f} mm of the tipping point "
                f"({sim_falls} of {len(self.disagreements)} are towers the rule says stand and the simulation "
                "topples): the rule treats the support edge as a sharp pivot of rigid blocks, while the "
                "simulation's contacts have a small tolerance and the release is dynamic")


def marginal_inclusive_scenes(n: int, seed: int = 0) -> list[SceneSpec]:
    """``n`` towers of 2-4 blocks, half stable by the rule, at any margin (marginal ones included)."""
    task = load_task("stability")
    params = TowerParams(min_margin=0.0, max_offset=0.7)
    scenes = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        variant = task.variants.draw(rng, "train")
        variant["n_blocks"] = int(rng.integers(2, 5))
        blocks, _ = sample_tower(rng, variant, params, stable=bool(rng.random() < 0.5))
        scenes.append(tower_scene(blocks, variant, task.variants))
    return scenes


def compare(scenes: list[SceneSpec], marginal: float = 0.003, physics: PhysicsConfig | None = None,
            progress=None) -> Agreement:
    """Release each tower in the simulation and compare with the analytic rule's verdict."""
    sandbox = Sandbox(physics)
    agree, n_marg, agree_marg, bad = 0, 0, 0, []
    try:
        for i, scene in enumerate(scenes):
            verdict = com_rule(levels_of(list(scene.blocks)))
            sandbox.start(scene)
            sim_stable = sandbox.trial({}).stood
            if progress is not None:
                progress(1)
            is_marginal = abs(verdict.margin) < marginal
            n_marg += is_marginal
            if sim_stable == verdict.stable:
                agree_marg += is_marginal
                agree += not is_marginal
            else:
                bad.append({"index": i, "margin_m": round(verdict.margin, 5), "blocks": len(scene.blocks),
                            "sim_stable": sim_stable, "marginal": is_marginal})
    finally:
        sandbox.close()
    return Agreement(len(scenes), n_marg, agree_marg, agree, marginal, bad)


def check_agreement(n: int, seed: int = 0, marginal: float = 0.003, physics: PhysicsConfig | None = None,
                    progress=None) -> Agreement:
    """The report's check: :func:`compare` on :func:`marginal_inclusive_scenes`."""
    return compare(marginal_inclusive_scenes(n, seed), marginal, physics, progress)
