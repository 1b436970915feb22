"""Statistics for success rates and their comparison, valid at small n.

Single proportions: Wilson score intervals (``wilson``); paired proportions: Newcombe's square-and-add
interval for the difference (``newcombe_paired``) and the exact McNemar test (``mcnemar_exact``);
several training seeds: two-level percentile bootstraps (``bootstrap_rate``, ``bootstrap_paired``);
families of tests: Holm's step-down adjustment (``holm``); design: the minimum detectable paired
difference (``mde``). Also the t interval of a mean (``mean_interval``) and episode tallies.
Only the standard library and numpy; every bootstrap draws from a generator with a fixed seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

Z95 = 1.959964
BOOTSTRAP_SEED = 0  # every bootstrap starts its own generator here: a result depends only on its data


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default). ``n == 0`` gives (0, 1)."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} must be within [0, n={n}]")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def wilson_centre(successes: int, n: int, z: float = Z95) -> float:
    """The centre of the Wilson interval, (s + z²/2) / (n + z²): the rate shrunk towards 1/2, never 0 or 1."""
    return (successes + z * z / 2) / (n + z * z)


def newcombe_paired(both: int, first_only: int, second_only: int, neither: int,
                    z: float = Z95) -> tuple[float, float, float]:
    """(difference, low, high): the difference of two paired proportions, first minus second, and
    Newcombe's method 10 interval (Newcombe 1998, Stat Med 17(22):2635-2650): the Wilson intervals of
    the two marginal proportions squared and added, with the phi correction for their correlation.
    The counts are pairs (e, f, g, h) in Newcombe's notation. Never zero width for at least one pair."""
    e, f, g, h = both, first_only, second_only, neither
    n = e + f + g + h
    if n <= 0 or min(e, f, g, h) < 0:
        raise ValueError(f"newcombe_paired needs non-negative counts and at least one pair, got {(e, f, g, h)}")
    p1, p2 = (e + f) / n, (e + g) / n
    l1, u1 = wilson(e + f, n, z)
    l2, u2 = wilson(e + g, n, z)
    margins = (e + f) * (g + h) * (e + g) * (f + h)
    phi = 0.0
    if margins:
        b = e * h - f * g
        c = b - n / 2 if b > n / 2 else (b if b < 0 else 0.0)
        phi = c / math.sqrt(margins)
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    return (d, max(-1.0, low), min(1.0, high))


def mcnemar_exact(first_only: int, second_only: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of the discordant pairs against 1/2,
    min(1, 2 P[X <= min(b, c)]) with X ~ Bin(b + c, 1/2); 1.0 without discordant pairs."""
    k = first_only + second_only
    if k == 0:
        return 1.0
    tail = sum(math.comb(k, i) for i in range(min(first_only, second_only) + 1))
    return min(1.0, 2 * tail / 2**k)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the input's order: the i-th smallest p becomes
    max over j <= i of min(1, (m - j + 1) p_(j)). Rejecting where adjusted p < alpha controls the
    family-wise error rate at alpha under any dependence."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def hull(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """The smallest interval containing both."""
    return (min(a[0], b[0]), max(a[1], b[1]))


def _percentiles(samples: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return (float(lo), float(hi))


def bootstrap_rate(seeds: Sequence[tuple[int, int]], resamples: int = 2000, level: float = 0.95,
                   seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Two-level percentile bootstrap interval of a success rate pooled over training seeds, each
    given as (episodes, successes): draw the seeds with replacement, then each drawn seed's episodes
    with replacement, pool. (Resampling n 0/1 outcomes with replacement draws Bin(n, rate) successes,
    which is how it is computed.) Deterministic: the generator starts at ``seed``."""
    n = np.array([s[0] for s in seeds], dtype=np.int64)
    if len(n) == 0 or (n <= 0).any():
        raise ValueError(f"bootstrap_rate needs seeds with episodes, got {list(seeds)}")
    rate = np.array([s[1] for s in seeds], dtype=float) / n
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(n), size=(resamples, len(n)))
    successes = rng.binomial(n[pick], rate[pick])
    return _percentiles(successes.sum(axis=1) / n[pick].sum(axis=1), level)


def bootstrap_paired(seeds: Sequence[tuple[int, int, int]], resamples: int = 2000, level: float = 0.95,
                     seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Two-level percentile bootstrap interval of a paired difference in success pooled over training
    seeds, each given as (pairs, first only succeeded, second only succeeded): draw the seeds with
    replacement, then each drawn seed's pairs with replacement (a multinomial draw over +1/-1/0), pool.
    Deterministic: the generator starts at ``seed``."""
    n = np.array([s[0] for s in seeds], dtype=np.int64)
    if len(n) == 0 or (n <= 0).any():
        raise ValueError(f"bootstrap_paired needs seeds with pairs, got {list(seeds)}")
    up = np.array([s[1] for s in seeds], dtype=float) / n
    down = np.array([s[2] for s in seeds], dtype=float) / n
    probs = np.stack([up, down, np.clip(1 - up - down, 0.0, 1.0)], axis=1)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(n), size=(resamples, len(n)))
    counts = rng.multinomial(n[pick], probs[pick])
    diff = (counts[..., 0] - counts[..., 1]).sum(axis=1) / n[pick].sum(axis=1)
    return _percentiles(diff, level)


def paired_power(d: float, pairs: int, p_base: float, alpha: float = 0.05) -> float:
    """Power of the two-sided McNemar test (normal approximation) at level ``alpha`` with ``pairs``
    pairs when the true paired difference is ``d`` (signed: the other policy's success rate is
    p_base + d) and the two policies' outcomes are independent given the scene: discordance
    psi = p_b(1 - p_t) + p_t(1 - p_b), the statistic's sd sqrt(psi/n) under no difference and
    sqrt((psi - d²)/n) under d."""
    p_t = p_base + d
    if not 0 <= p_t <= 1 or pairs <= 0:
        return 0.0
    psi = p_base * (1 - p_t) + p_t * (1 - p_base)
    var = psi - d * d
    if var <= 0:
        return 1.0 if d != 0 else 0.0
    z = NormalDist().inv_cdf(1 - alpha / 2)
    sd, cut = math.sqrt(var / pairs), z * math.sqrt(psi / pairs)
    phi = NormalDist().cdf
    return phi((abs(d) - cut) / sd) + phi((-abs(d) - cut) / sd)


def mde(pairs: int, p_base: float, alpha: float = 0.05, power: float = 0.8, steps: int = 400) -> float | None:
    """Minimum detectable effect: the smallest true paired difference |d| in [0, 1], in whichever
    direction (better or worse than the base) is detected sooner, that the two-sided McNemar test at
    ``alpha`` detects with probability ``power`` (see ``paired_power``), with ``pairs`` pairs and the
    base's success rate ``p_base`` (pass a rate shrunk away from 0 and 1, e.g. ``wilson_centre``, or
    no difference can be ruled out at the edges). Solved numerically (a grid, then bisection), to
    about 1e-6. None when no possible difference reaches the power (too few pairs)."""
    if pairs <= 0:
        return None
    best = None
    for sign, reach in ((1, 1 - p_base), (-1, p_base)):
        grid = [reach * (i + 1) / steps for i in range(steps)]
        hit = next((i for i, d in enumerate(grid) if paired_power(sign * d, pairs, p_base, alpha) >= power), None)
        if hit is None:
            continue
        lo, hi = (grid[hit - 1] if hit else 0.0), grid[hit]
        while hi - lo > 1e-7:
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if paired_power(sign * mid, pairs, p_base, alpha) >= power else (mid, hi)
        best = hi if best is None else min(best, hi)
    return best


# Student's t 0.975 quantiles for 1-30 degrees of freedom (any statistics table).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """Student's t 0.975 quantile: the table to 30 degrees of freedom, then the Cornish-Fisher expansion
    around the normal quantile (error below 1e-4 there)."""
    if df < 1:
        raise ValueError(f"degrees of freedom {df}: expected 1 or more")
    if df <= len(_T975):
        return _T975[df - 1]
    z = Z95
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mean_interval(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` and its 95% t interval (standard error from the sample
    standard deviation, Student's t with n - 1 degrees of freedom, so that it holds at small n for
    roughly normal means). Needs at least two values."""
    n = len(values)
    if n < 2:
        raise ValueError(f"mean_interval needs at least 2 values, got {n}")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return (mean, mean - half, mean + half)


class SuccessRate:
    """Mixin for a dataclass with ``n`` episodes and ``successes``: the rate and its Wilson interval."""

    n: int
    successes: int

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.successes, self.n)


def tally(records: list[dict]) -> tuple[int, int, float, int, int]:
    """(episodes, successes, mean reward, parse failures, errors) of episode records. An episode that
    could not run to its end (``error``) counts as an error, not as a parse failure."""
    n = len(records)
    return (n, sum(bool(r["success"]) for r in records),
            sum(float(r["reward"]) for r in records) / n if n else 0.0,
            sum(r["reason"] != "ok" and not r.get("error") for r in records),
            sum(bool(r.get("error")) for r in records))
