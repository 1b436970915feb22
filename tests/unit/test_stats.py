"""Intervals, tests and corrections against published worked examples; the bootstraps and the minimum
detectable effect by their definitions."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from physgen.evaluation import stats


@pytest.mark.parametrize(("successes", "n", "low", "high"), [
    # Newcombe (1998a) Stat Med 17:857, the score method's examples (as reproduced in m-Py/propint's tests)
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
])
def test_wilson_matches_newcombes_examples(successes, n, low, high):
    lo, hi = stats.wilson(successes, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_all_successes_keeps_a_lower_bound_below_one():
    # 32/32: 0.8928208 (insightsengineering/cards proportion_ci_wilson snapshot)
    assert stats.wilson(32, 32) == pytest.approx((0.8928208, 1.0), abs=1e-7)
    assert stats.wilson_centre(0, 4) > 0 and stats.wilson_centre(4, 4) < 1


@pytest.mark.parametrize(("table", "low", "high"), [
    # Newcombe (1998) Stat Med 17(22):2635, Table II, method 10; (e, f, g, h) = (both, first only, second
    # only, neither), difference (f - g) / n (values as in m-Py/propint's tests of ci.two.dep.props)
    ((36, 12, 2, 0), 0.0569, 0.3404),
    ((18, 12, 2, 18), 0.0562, 0.3290),
    ((53, 0, 0, 1), -0.0729, 0.0729),
    ((0, 30, 0, 0), 0.8395, 1.0),
    # Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables (2017), ch. 8: Cavo et al.
    # (2012) and a 2-pair table (ocbe-uio/contingencytables tests of Newcombe_square_and_add_CI_paired_2x2)
    ((59, 6, 16, 80), -0.1186, -0.0046),
    ((1, 0, 0, 1), -0.5734, 0.5734),
])
def test_newcombe_paired_matches_published_method_10_limits(table, low, high):
    e, f, g, h = table
    d, lo, hi = stats.newcombe_paired(*table)
    assert d == pytest.approx((f - g) / sum(table))
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_newcombe_paired_is_never_zero_width():
    for table in [(4, 0, 0, 0), (0, 4, 0, 0), (0, 0, 0, 4), (1, 0, 0, 0), (0, 1, 0, 0)]:
        _, lo, hi = stats.newcombe_paired(*table)
        assert hi - lo > 0.3, table
    with pytest.raises(ValueError):
        stats.newcombe_paired(0, 0, 0, 0)


def test_mcnemar_exact_matches_a_published_p_value():
    # Cavo et al. (2012) in Fagerland et al. (2017): 6 and 16 discordant pairs, exact conditional P = 0.052479
    assert stats.mcnemar_exact(6, 16) == pytest.approx(0.052479, abs=1e-6)
    assert stats.mcnemar_exact(16, 6) == stats.mcnemar_exact(6, 16)
    assert stats.mcnemar_exact(0, 0) == 1.0 and stats.mcnemar_exact(3, 3) == 1.0
    assert stats.mcnemar_exact(5, 0) == pytest.approx(2 / 2**5)  # all 5 discordant pairs one way
    assert stats.mcnemar_exact(0, 1000) == 2.0**-999  # large counts: exact integer arithmetic, no overflow
    assert 0.6 < stats.mcnemar_exact(990, 1010) < 0.7


def test_holm_matches_a_documented_example_in_input_order():
    # MultipleTesting.jl's adjust(PValues([0.001, 0.01, 0.03, 0.5]), Holm()) docstring
    assert stats.holm([0.001, 0.01, 0.03, 0.5]) == pytest.approx([0.004, 0.03, 0.06, 0.5])
    assert stats.holm([0.5, 0.03, 0.001, 0.01]) == pytest.approx([0.5, 0.06, 0.004, 0.03])
    assert stats.holm([0.04, 0.03]) == pytest.approx([0.06, 0.06])  # step-down keeps the order monotone
    assert stats.holm([0.9, 0.8]) == [1.0, 1.0] and stats.holm([]) == []


def test_bootstraps_are_deterministic_and_carry_the_seed_spread():
    disagree = [(10, 10), (10, 5), (10, 0)]
    assert stats.bootstrap_rate(disagree) == stats.bootstrap_rate(disagree)
    lo, hi = stats.bootstrap_rate(disagree)
    wlo, whi = stats.wilson(15, 30)
    assert hi - lo > whi - wlo  # the between-seed variance Wilson on pooled counts does not see
    assert stats.bootstrap_rate([(4, 4)] * 3) == (1.0, 1.0)  # collapses: why the matrix takes the hull with Wilson
    agree = stats.bootstrap_rate([(10, 5)] * 3)
    assert agree[1] - agree[0] < hi - lo
    pairs = [(10, 5, 0), (10, 1, 3), (10, 2, 2)]
    assert stats.bootstrap_paired(pairs) == stats.bootstrap_paired(pairs)
    plo, phi = stats.bootstrap_paired(pairs)
    assert -1 <= plo < 0.1 < phi <= 1
    assert stats.bootstrap_paired(pairs, seed=1) != (plo, phi)
    assert stats.hull((0.2, 0.5), (0.3, 0.7)) == (0.2, 0.7)


def test_paired_power_has_the_tests_size_at_no_difference():
    assert stats.paired_power(0.0, 50, 0.4) == pytest.approx(0.05, abs=1e-6)
    assert stats.paired_power(0.3, 50, 0.4) > stats.paired_power(0.2, 50, 0.4) > 0.05
    assert stats.paired_power(0.7, 50, 0.4) == 0.0  # a rate above 1 is impossible


def test_mde_solves_connors_sample_size_formula_and_is_never_zero():
    z_a, z_b = NormalDist().inv_cdf(0.975), NormalDist().inv_cdf(0.8)
    p = stats.wilson_centre(12, 30)
    previous = 1.0
    for pairs in (30, 60, 120, 500):
        d = stats.mde(pairs, p)
        assert 0 < d < previous
        previous = d
        # Connor (1987) Biometrics 43:207: n = (z_a sqrt(psi) + z_b sqrt(psi - d^2))^2 / d^2, psi the discordance;
        # the smaller d of the two directions (here: worse than the base, psi smaller)
        p_t = p - d
        psi = p * (1 - p_t) + p_t * (1 - p)
        n = (z_a * math.sqrt(psi) + z_b * math.sqrt(psi - d * d)) ** 2 / (d * d)
        assert n == pytest.approx(pairs, rel=0.01)
    assert stats.mde(4, stats.wilson_centre(4, 4)) is None  # 4 pairs detect nothing with 80% power
    assert stats.mde(0, 0.5) is None
    assert stats.mde(30, stats.wilson_centre(30, 30)) > 0.1  # a perfect base still has a positive MDE


def test_the_old_helpers_still_work():
    assert stats.mean_interval([0.0, 1.0, 1.0, 0.0])[0] == 0.5
    assert stats.tally([{"success": True, "reward": 1.0, "reason": "ok"},
                        {"success": False, "reward": 0.0, "reason": "unparseable"},
                        {"success": False, "reward": 0.0, "reason": "timeout", "error": "boom"}]) == (3, 1, 1 / 3, 1, 1)
