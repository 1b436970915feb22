"""The transfer matrix: rows are policies (training conditions), columns are eval tasks per split.

Each cell holds the success rate with its Wilson 95% interval, the mean reward, the parse-failure
rate, and the paired difference in success to the base row on the same scenes (task, split, seed)
with its 95% interval. Every number is computed from episode records and names how many it used.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from physgen.evaluation.stats import SuccessRate, mean_interval, tally


def column(task: str, split: str) -> str:
    return task if split == "train" else f"{task} (held-out)"


@dataclass(frozen=True)
class Cell(SuccessRate):
    n: int
    successes: int
    mean_reward: float
    parse_failures: int
    errors: int
    paired: int = 0  # scenes also run by the base row
    diff: tuple[float, float, float] | None = None  # (mean, low, high) of success - base success

    def to_dict(self) -> dict:
        lo, hi = self.interval
        return {"episodes": self.n, "successes": self.successes, "success_rate": self.rate, "ci95": [lo, hi],
                "mean_reward": self.mean_reward, "parse_failure_rate": self.parse_failures / self.n if self.n else 0.0,
                "errors": self.errors, "paired_with_base": self.paired,
                "diff_vs_base": None if self.diff is None else dict(zip(("mean", "low", "high"), self.diff))}


@dataclass(frozen=True)
class Matrix:
    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    base: str | None

    def to_dict(self) -> dict:
        return {"rows": self.rows, "columns": self.columns, "base": self.base,
                "cells": [{"row": r, "column": c, **cell.to_dict()} for (r, c), cell in self.cells.items()]}

    def table(self) -> str:
        """Success rate [95% interval] (and the difference to the base row) per cell, for a terminal."""
        width = max(22, *(len(c) + 2 for c in self.columns))
        lines = [f"{'':<20}" + "".join(f"{c:>{width}}" for c in self.columns)]
        for r in self.rows:
            rates, diffs = [], []
            for c in self.columns:
                cell = self.cells.get((r, c))
                if cell is None:
                    rates.append("")
                    diffs.append("")
                    continue
                lo, hi = cell.interval
                rates.append(f"{cell.rate:.0%} [{lo:.0%}, {hi:.0%}]")
                diffs.append("" if cell.diff is None else "{:+.0%} [{:+.0%}, {:+.0%}]".format(*cell.diff))
            lines.append(f"{r:<20}" + "".join(f"{x:>{width}}" for x in rates))
            if any(diffs):
                lines.append(f"{'  vs ' + str(self.base):<20}" + "".join(f"{x:>{width}}" for x in diffs))
        return "\n".join(lines)

    def write_csv(self, path: Path) -> None:
        with Path(path).open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["row", "column", "episodes", "successes", "success_rate", "ci95_low", "ci95_high",
                        "mean_reward", "parse_failure_rate", "errors", "paired_with_base", "diff_vs_base",
                        "diff_low", "diff_high"])
            for (r, c), cell in self.cells.items():
                lo, hi = cell.interval
                d = cell.diff or (None, None, None)
                w.writerow([r, c, cell.n, cell.successes, cell.rate, lo, hi, cell.mean_reward,
                            cell.parse_failures / cell.n if cell.n else 0.0, cell.errors, cell.paired, *d])


def transfer_matrix(records: list[dict], base: str | None = None, rows: list[str] | None = None) -> Matrix:
    """The matrix of ``records`` (``EpisodeRecord.to_dict()``; the row is the record's ``policy``).
    ``base``: the row the others are compared with, scene by scene; ``rows``: their order (default:
    first appearance)."""
    by_cell: dict[tuple[str, str], dict[int, dict]] = defaultdict(dict)
    order_rows, order_cols = [], []
    for r in records:
        col = column(r["task"], r["split"])
        if r["policy"] not in order_rows:
            order_rows.append(r["policy"])
        if col not in order_cols:
            order_cols.append(col)
        by_cell[(r["policy"], col)][int(r["seed"])] = r
    rows = rows or order_rows
    cells = {}
    for (row, col), eps in by_cell.items():
        if row not in rows:
            continue
        rs = list(eps.values())
        paired, diff = 0, None
        ref = by_cell.get((base, col)) if base is not None and row != base else None
        if ref:
            d = [float(eps[s]["success"]) - float(ref[s]["success"]) for s in sorted(eps) if s in ref]
            paired = len(d)
            if paired >= 2:
                m, lo, hi = mean_interval(d)
                diff = (m, max(-1.0, lo), min(1.0, hi))  # a difference of success rates lies in [-1, 1]
        cells[(row, col)] = Cell(*tally(rs), paired, diff)
    ordered = {(r, c): cells[(r, c)] for r in rows for c in order_cols if (r, c) in cells}
    return Matrix(list(rows), order_cols, ordered, base)
