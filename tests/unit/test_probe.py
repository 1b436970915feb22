"""Linear probes: a quantity the features carry is decoded far above its shuffled-label control; the
model's activations are read at the answer position for every scene."""

from __future__ import annotations

import numpy as np
import pytest


def test_the_probe_finds_what_the_features_carry_and_the_control_does_not():
    from physgen.experiments.probe import ProbeConfig, probe_scores

    rng = np.random.default_rng(0)
    margin = rng.uniform(-0.02, 0.02, 120)
    facts = [{"margin_m": float(m), "analytic_stable": bool(m > 0)} for m in margin]
    features = np.column_stack([margin * 100, rng.normal(size=(120, 30))])  # one informative direction
    rows = {r["quantity"]: r for r in probe_scores(features, facts, ProbeConfig(model="m", task="stability",
                                                                                 scenes=120))}
    assert set(rows) == {"margin_m", "stable"}
    assert rows["margin_m"]["probe"] > 0.9 and rows["margin_m"]["shuffled"] < 0.1
    assert rows["stable"]["probe"] > 0.8 and rows["stable"]["shuffled"] < 0.7


@pytest.mark.slow
def test_activations_are_read_for_every_scene(tiny_models):
    from physgen.experiments.probe import ProbeConfig, activations, probe_scores

    cfg = ProbeConfig(model=str(tiny_models["tiny-qwen2-vl"]), task="fall_direction", scenes=10, folds=2)
    features, facts = activations(cfg)
    assert features.shape[0] == 10 and np.isfinite(features).all()
    assert {r["quantity"] for r in probe_scores(features, facts, cfg)} <= {"margin_m", "side"}
    with pytest.raises(ValueError, match="layer"):
        activations(ProbeConfig(model=cfg.model, task="fall_direction", scenes=10, folds=2, layer=99))
