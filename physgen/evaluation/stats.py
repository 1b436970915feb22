"""Statistics for success rates: Wilson score intervals, intervals of means, and episode tallies."""

from __future__ import annotations

import math


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
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


def mean_interval(values: list[float], z: float = 1.959964) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` and its normal-approximation 95% interval
    (standard error from the sample standard deviation). Needs at least two values."""
    n = len(values)
    if n < 2:
        raise ValueError(f"mean_interval needs at least 2 values, got {n}")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = z * sd / math.sqrt(n)
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
