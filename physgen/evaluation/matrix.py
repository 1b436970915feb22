"""The transfer matrix: rows are policies (training conditions), columns are eval tasks per split.

A policy label ``ROW.seedK`` (K an integer, e.g. ``sft_shift.seed2``) is training seed K of row ROW
(``split_label``); any other label is a row with one seed. A cell pools the episodes of all its row's
seeds on one column and holds:

- the success rate with a 95% interval. One seed: Wilson on the pooled counts. Two or more seeds: the
  hull (lowest low, highest high) of Wilson on the pooled counts and a two-level percentile bootstrap
  (seeds with replacement, then episodes within each drawn seed). Pooled Wilson treats every episode
  as exchangeable and so misses the variance between training runs, which is what decides whether a
  result would come back with another seed; the bootstrap carries it, but with few seeds it is itself
  unreliable and collapses to a point when every episode succeeded (or failed), where Wilson keeps
  its coverage. The hull is conservative: at least as wide as either.
- the paired difference in success to the base row on the same scenes, pairs matched by (task,
  split, scene seed) and pooled over the row's seeds (each may have run a different subset of the
  base's scenes): Newcombe's method 10 interval (square-and-add of Wilson intervals with the phi
  correction; never zero width), for rows of two or more seeds its hull with a two-level paired
  bootstrap (seeds, then pairs within the seed); the exact McNemar p-value of the discordant pairs;
  the minimum detectable effect at that number of pairs (``stats.mde``: 80% power, two-sided, at
  ``alpha``, from the base cell's Wilson-centre rate; it treats pooled pairs as independent, so for
  seeds that disagree the true one is larger). A base row with several seeds is paired through the
  first of its seeds that ran the scene.
- a verdict. A cell whose parse-failure rate exceeds ``format_threshold`` is flagged "format" and gets
  no physics verdict: its failures say the answer format broke, not the physics. The other compared
  cells of the non-base rows, except the reference rows (expert, chance), form one family whose
  McNemar p-values are Holm-adjusted; reference rows are judged at the unadjusted level. "transfer"
  (or "negative transfer") needs the adjusted p < alpha and the shown 95% interval above (below) 0,
  so verdict and interval never disagree; otherwise "no detectable difference".

Every number is computed from episode records and names how many it used.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from physgen.config import in_range, one_of, require
from physgen.evaluation import stats
from physgen.evaluation.stats import SuccessRate, tally

TRANSFER, NEGATIVE, NO_DIFFERENCE, FORMAT = "transfer", "negative transfer", "no detectable difference", "format"
SHORT = {TRANSFER: "transfer", NEGATIVE: "negative", NO_DIFFERENCE: "no diff", FORMAT: "FORMAT"}
REFERENCES = ("expert", "chance")
POWER = 0.8
_SEED_LABEL = re.compile(r"(?P<row>.+)\.seed(?P<seed>\d+)")


def split_label(label: str) -> tuple[str, int | None]:
    """(row, training seed) of a policy label: ``ROW.seedK`` -> (ROW, K); any other label -> (label, None),
    a row of its own with one seed."""
    m = _SEED_LABEL.fullmatch(label)
    return (m["row"], int(m["seed"])) if m else (label, None)


def column(task: str, split: str) -> str:
    return task if split == "train" else f"{task} (held-out)"


@dataclass(frozen=True)
class Cell(SuccessRate):
    """One (row, column): episodes pooled over the row's training seeds, compared with the base row."""

    n: int
    successes: int
    mean_reward: float
    parse_failures: int
    errors: int
    seeds: int = 1
    per_seed: tuple[tuple[int | None, int, int], ...] = ()  # (training seed, episodes, successes)
    ci: tuple[float, float] = (0.0, 1.0)  # 95% interval of the success rate
    ci_method: str = "wilson"
    parsed: int = 0  # episodes whose answer parsed (reason "ok")
    parsed_successes: int = 0
    flagged: bool = False  # parse-failure rate above the matrix's format_threshold
    paired: int = 0  # scenes also run by the base row, over all seeds
    discordant: tuple[int, int] = (0, 0)  # (pairs only this row succeeded on, pairs only the base did)
    diff: tuple[float, float, float] | None = None  # (mean, low, high) of success - base success
    diff_method: str | None = None
    p: float | None = None  # exact McNemar p-value
    p_adjusted: float | None = None  # Holm-adjusted; the unadjusted p for a reference row
    corrected: bool = False  # p_adjusted is Holm's (False: a reference row, or not compared)
    verdict: str | None = None  # TRANSFER, NEGATIVE, NO_DIFFERENCE or FORMAT; None: not compared
    mde: float | None = None  # minimum detectable difference at `paired` pairs; None: unpaired or unreachable

    @property
    def interval(self) -> tuple[float, float]:
        return self.ci

    @property
    def seed_rates(self) -> list[float]:
        return [s / n for _, n, s in self.per_seed]

    @property
    def parse_failure_rate(self) -> float:
        return self.parse_failures / self.n if self.n else 0.0

    @property
    def parsed_rate(self) -> float | None:
        """Success rate among the episodes whose answer parsed."""
        return self.parsed_successes / self.parsed if self.parsed else None

    def to_dict(self) -> dict:
        lo, hi = self.ci
        return {
            "episodes": self.n, "seeds": self.seeds, "successes": self.successes, "success_rate": self.rate,
            "ci95": [lo, hi], "ci_method": self.ci_method,
            "per_seed": [{"seed": k, "episodes": n, "successes": s, "success_rate": s / n}
                         for k, n, s in self.per_seed],
            "mean_reward": self.mean_reward, "parse_failure_rate": self.parse_failure_rate, "errors": self.errors,
            "parsed": self.parsed, "success_rate_parsed": self.parsed_rate, "format_flag": self.flagged,
            "paired_with_base": self.paired,
            "discordant": {"row_only": self.discordant[0], "base_only": self.discordant[1]},
            "diff_vs_base": None if self.diff is None else dict(zip(("mean", "low", "high"), self.diff)),
            "diff_method": self.diff_method, "p_mcnemar": self.p, "p_adjusted": self.p_adjusted,
            "correction": ("holm" if self.corrected else "none") if self.p_adjusted is not None else None,
            "verdict": self.verdict, "mde": self.mde,
        }


@dataclass(frozen=True)
class Matrix:
    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    base: str | None
    alpha: float = 0.05
    format_threshold: float = 0.2
    references: tuple[str, ...] = REFERENCES
    bootstrap: int = 2000

    def seeds(self, row: str) -> int:
        """Training seeds behind ``row`` (the most over its cells)."""
        return max((c.seeds for (r, _), c in self.cells.items() if r == row), default=0)

    def label(self, row: str) -> str:
        k = self.seeds(row)
        return f"{row} ({k} seeds)" if k > 1 else row

    def to_dict(self) -> dict:
        return {
            "rows": self.rows, "columns": self.columns, "base": self.base,
            "seeds": {r: self.seeds(r) for r in self.rows},
            "settings": {
                "alpha": self.alpha, "format_threshold": self.format_threshold, "correction": "holm",
                "references": list(self.references), "power": POWER, "level": 0.95,
                "bootstrap": {"resamples": self.bootstrap, "seed": stats.BOOTSTRAP_SEED,
                              "levels": "training seeds, then episodes (pairs) within each drawn seed"},
                "methods": {
                    "success": "Wilson score on pooled counts; >= 2 seeds: hull with a two-level percentile bootstrap",
                    "difference": "Newcombe (1998) method 10 for paired proportions; >= 2 seeds: hull with a "
                                  "two-level paired percentile bootstrap",
                    "test": "exact McNemar (two-sided binomial on discordant pairs), Holm-adjusted over the "
                            "non-base, non-reference rows' unflagged cells",
                    "mde": "smallest paired difference detected with 80% power by a two-sided McNemar test at "
                           "alpha (normal approximation, outcomes independent given the scene, base rate at "
                           "its Wilson centre)",
                }},
            "cells": [{"row": r, "column": c, **cell.to_dict()} for (r, c), cell in self.cells.items()],
        }

    def table(self) -> str:
        """Per cell, for a terminal: success [95% interval]; the paired difference to the base row in
        percentage points [95% interval] and the verdict; n (and the minimum detectable effect)."""
        width = max([26] + [len(c) + 2 for c in self.columns])
        left = max([20] + [len(self.label(r)) + 2 for r in self.rows])
        lines = [" " * left + "".join(f"{c:>{width}}" for c in self.columns)]
        for r in self.rows:
            cells = [self.cells.get((r, c)) for c in self.columns]
            rates = ["" if c is None else "{:.0%} [{:.0%}, {:.0%}]".format(c.rate, *c.ci) for c in cells]
            diffs = [self._diff_text(c) for c in cells]
            sizes = [self._size_text(c) for c in cells]
            lines.append(f"{self.label(r):<{left}}" + "".join(f"{x:>{width}}" for x in rates))
            if any(diffs):
                vs = f"  vs {self.base} (pp)" if r != self.base else ""
                lines.append(f"{vs:<{left}}" + "".join(f"{x:>{width}}" for x in diffs))
            lines.append(" " * left + "".join(f"{x:>{width}}" for x in sizes))
        lines.append(textwrap.fill(
            f"pp: paired difference to {self.base} in percentage points [95% CI]. transfer/negative: Holm-adjusted "
            f"exact McNemar p < {self.alpha:g} and the CI excludes 0 (*: reference row, not adjusted). mde: the "
            f"smallest difference detected with {POWER:.0%} power at these n (n/a: none is). FORMAT: more than "
            f"{self.format_threshold:.0%} of the answers did not parse, no verdict (success among parsed answers "
            "below).", width=max(100, left + width * len(self.columns))))
        return "\n".join(lines)

    def _diff_text(self, c: Cell | None) -> str:
        if c is None:
            return ""
        if c.flagged:
            return f"FORMAT {c.parse_failure_rate:.0%} unparsed"
        if c.diff is None:
            return ""
        mean, lo, hi = (round(100 * x) for x in c.diff)
        star = "*" if c.verdict and not c.corrected else ""
        return f"{mean:+d} [{lo:+d},{hi:+d}] {SHORT[c.verdict]}{star}"

    def _size_text(self, c: Cell | None) -> str:
        if c is None:
            return ""
        if c.flagged:
            parsed = "none parsed" if c.parsed_rate is None else f"{c.parsed_rate:.0%} of {c.parsed} parsed"
            return f"n={c.n}, {parsed}"
        if c.paired:
            return f"n={c.n} mde " + ("n/a" if c.mde is None else f"{c.mde:.0%}")
        return f"n={c.n}"

    def write_csv(self, path: Path) -> None:
        with Path(path).open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["row", "column", "seeds", "episodes", "successes", "success_rate", "ci95_low", "ci95_high",
                        "ci_method", "seed_success_rates", "mean_reward", "parse_failure_rate",
                        "success_rate_parsed", "format_flag", "errors", "paired_with_base", "row_only", "base_only",
                        "diff_vs_base", "diff_low", "diff_high", "diff_method", "p_mcnemar", "p_adjusted",
                        "correction", "verdict", "mde"])
            for (r, c), cell in self.cells.items():
                d = cell.to_dict()
                w.writerow([r, c, cell.seeds, cell.n, cell.successes, cell.rate, *cell.ci, cell.ci_method,
                            ";".join(f"{x:.4f}" for x in cell.seed_rates), cell.mean_reward,
                            cell.parse_failure_rate, cell.parsed_rate, cell.flagged, cell.errors, cell.paired,
                            *cell.discordant, *(cell.diff or (None, None, None)), cell.diff_method, cell.p,
                            cell.p_adjusted, d["correction"], cell.verdict, cell.mde])


def check_settings(alpha: float, format_threshold: float) -> None:
    """The matrix's settings, checked where they are given (a ConfigError names the bad one)."""
    require(0 < alpha < 0.5, "alpha", alpha, "a number in (0, 0.5)")
    in_range("format_threshold", format_threshold, 0.0, 1.0)


def transfer_matrix(records: list[dict], base: str | None = None, rows: list[str] | None = None, *,
                    alpha: float = 0.05, format_threshold: float = 0.2, references: tuple[str, ...] = REFERENCES,
                    bootstrap: int = 2000) -> Matrix:
    """The matrix of ``records`` (``EpisodeRecord.to_dict()``; the row is the record's ``policy``
    through ``split_label``). ``base``: the row the others are compared with, scene by scene;
    ``rows``: their order as row names (a seed label stands for its row; default: first appearance);
    ``alpha``: the family-wise level of the verdicts; ``format_threshold``: the parse-failure rate
    above which a cell is flagged; ``references``: rows judged outside the Holm family;
    ``bootstrap``: resamples per bootstrap interval."""
    check_settings(alpha, format_threshold)
    require(isinstance(bootstrap, int) and bootstrap >= 100, "bootstrap", bootstrap, "an integer >= 100")
    by_cell: dict[tuple[str, str], dict[int | None, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    order_rows, order_cols = [], []
    for r in records:
        row, k = split_label(r["policy"])
        col = column(r["task"], r["split"])
        if row not in order_rows:
            order_rows.append(row)
        if col not in order_cols:
            order_cols.append(col)
        by_cell[(row, col)][k][int(r["seed"])] = r
    rows = list(dict.fromkeys(split_label(r)[0] for r in rows)) if rows else order_rows
    base = split_label(base)[0] if base is not None else None
    if base is not None and order_rows:
        one_of("base", base, order_rows)
    cells = {(row, col): _cell(by_cell[(row, col)], by_cell.get((base, col)) if row != base else None,
                               format_threshold, alpha, bootstrap)
             for row in rows for col in order_cols if (row, col) in by_cell}
    family = [key for key, c in cells.items() if c.p is not None and not c.flagged and key[0] not in references]
    adjusted = dict(zip(family, stats.holm([cells[k].p for k in family])))
    for key, c in cells.items():
        if c.p is None:
            continue
        if c.flagged:
            cells[key] = dataclasses.replace(c, verdict=FORMAT)
            continue
        p_adj = adjusted.get(key, c.p)
        _, lo, hi = c.diff
        verdict = (TRANSFER if p_adj < alpha and lo > 0 else NEGATIVE if p_adj < alpha and hi < 0 else NO_DIFFERENCE)
        cells[key] = dataclasses.replace(c, p_adjusted=p_adj, corrected=key in adjusted, verdict=verdict)
    return Matrix(list(rows), order_cols, cells, base, alpha, format_threshold, tuple(references), bootstrap)


def _seed_order(k: int | None) -> tuple[bool, int]:
    return (k is not None, k or 0)


def _cell(seeds: dict[int | None, dict[int, dict]], base: dict[int | None, dict[int, dict]] | None,
          format_threshold: float, alpha: float, resamples: int) -> Cell:
    """A cell before its verdict: pooled counts, intervals, the pairing with the base cell.
    ``seeds``: {training seed: {scene seed: record}}, the same for ``base`` (None: not compared)."""
    order = sorted(seeds, key=_seed_order)
    eps = [r for k in order for r in seeds[k].values()]
    n, successes, reward, parse_failures, errors = tally(eps)
    per_seed = tuple((k, len(seeds[k]), sum(bool(r["success"]) for r in seeds[k].values())) for k in order)
    ci, ci_method = stats.wilson(successes, n), "wilson"
    if len(per_seed) >= 2:
        boot = stats.bootstrap_rate([(m, s) for _, m, s in per_seed], resamples)
        ci, ci_method = stats.hull(ci, boot), "wilson+bootstrap hull"
    parsed = [r for r in eps if r["reason"] == "ok"]
    cell = Cell(n, successes, reward, parse_failures, errors, len(per_seed), per_seed, ci, ci_method, len(parsed),
                sum(bool(r["success"]) for r in parsed), n > 0 and parse_failures / n > format_threshold)
    if not base:
        return cell
    ref: dict[int, bool] = {}
    for k in sorted(base, key=_seed_order):
        for scene, r in base[k].items():
            ref.setdefault(scene, bool(r["success"]))
    counts = []  # per training seed with pairs: (pairs, only this row succeeded, only the base did, both did)
    for k in order:
        outcomes = [(bool(r["success"]), ref[scene]) for scene, r in seeds[k].items() if scene in ref]
        if outcomes:
            counts.append((len(outcomes), sum(a and not b for a, b in outcomes),
                           sum(b and not a for a, b in outcomes), sum(a and b for a, b in outcomes)))
    if not counts:
        return cell
    pairs, f, g, e = (sum(c[i] for c in counts) for i in range(4))
    mean, lo, hi = stats.newcombe_paired(e, f, g, pairs - e - f - g)
    method = "newcombe"
    if len(counts) >= 2:
        boot = stats.bootstrap_paired([c[:3] for c in counts], resamples)
        (lo, hi), method = stats.hull((lo, hi), boot), "newcombe+bootstrap hull"
    base_eps = [r for k in base for r in base[k].values()]
    p_base = stats.wilson_centre(sum(bool(r["success"]) for r in base_eps), len(base_eps))
    return dataclasses.replace(cell, paired=pairs, discordant=(f, g), diff=(mean, lo, hi), diff_method=method,
                               p=stats.mcnemar_exact(f, g), mde=stats.mde(pairs, p_base, alpha, POWER))
