"""Sample efficiency: every start model is fine-tuned on the same data and evaluated through the
episode loop before its first step and every few steps."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_each_start_model_gets_a_curve_on_the_same_data(tiny_models, tmp_path):
    from physgen.experiments.efficiency import EfficiencyConfig, measure, table

    model = str(tiny_models["tiny-qwen2-vl"])
    cfg = EfficiencyConfig(task="fall_direction", models=(model, model), out=tmp_path, criterion=1.0, max_steps=4,
                           eval_every=2, episodes=2, examples=4, batch_size=2)
    curves = measure(cfg, progress=False)
    assert [[s for s, _ in c.points] for c in curves] == [[0, 2, 4], [0, 2, 4]] or any(c.reached for c in curves)
    assert curves[0].points == curves[1].points  # the same start, data and seed: the same curve
    assert (tmp_path / "1" / "dataset" / "physgen_dataset.json").is_file()
    doc = json.loads((tmp_path / "efficiency.json").read_text())
    assert len(doc["curves"]) == 2 and "start model" in table(cfg, curves)
