"""The policy reward: sampled answers executed in the cell, scenes paired across models."""

from __future__ import annotations

import math

import pytest


def test_mean_interval_is_the_t_interval_of_the_mean():
    from physgen.evaluation.stats import mean_interval, t975

    assert [round(t975(df), 3) for df in (1, 7, 30, 40, 60, 120)] == [12.706, 2.365, 2.042, 2.021, 2.0, 1.98]
    m, lo, hi = mean_interval([0.0, 1.0, 1.0, 0.0])
    half = 3.182 * math.sqrt(1 / 3) / 2  # t(0.975, 3 df)
    assert m == 0.5 and lo == pytest.approx(0.5 - half) and hi == pytest.approx(0.5 + half)
    assert mean_interval([2.0, 2.0]) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError):
        mean_interval([1.0])


@pytest.mark.slow
def test_the_same_model_twice_differs_by_exactly_nothing(tiny_models):
    from physgen.training.policy_reward import PolicyRewardConfig, compare, table

    model = str(tiny_models["tiny-qwen2-vl"])
    cfg = PolicyRewardConfig(task="fall_direction", scenes=3, samples=4, reward_workers=0)
    a, b = compare([model, model], cfg, progress=False)
    assert len(a.scene_rewards) == 3 and a.scene_rewards == b.scene_rewards  # same scenes, same sampling seeds
    assert b.difference(a) == (0.0, 0.0, 0.0)
    assert 0.0 <= a.parse_failure_rate <= 1.0 and model in table([a, b])
    greedy = compare([model], PolicyRewardConfig(task="fall_direction", scenes=2, temperature=0.0,
                                                 reward_workers=0), progress=False)[0]
    assert len(greedy.scene_rewards) == 2
    multi = compare([model], PolicyRewardConfig(task="fall_direction", scenes=2, samples=2, attempts=3,
                                                reward_workers=0), progress=False)[0]
    assert multi.first_success_rate <= multi.success_rate  # later attempts can only add successes
