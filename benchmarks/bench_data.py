"""Training-data rendering: dataset rows per second built by 1 process and by N processes
(physgen.training.datasets.rows_in_processes), side by side in one run.

Each repetition builds --rows rows of each source (captions: the pre-training scenes; a task: its
scenes with the oracle's answer) on fresh seeds, once per worker count, the order alternating
between repetitions (1 N, N 1, ...). Printed: the median rows/s per worker count and the median of
the per-repetition paired ratios N vs 1, and whether the rows were equal (they must be: the seeds,
not the workers, decide every row).

Usage: python benchmarks/bench_data.py [--rows 128] [--workers 2] [--reps 2] [--sources captions,fall_direction]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from physgen.tasks.oracle import CACHE_ENV
from physgen.training.datasets import rows_in_processes


def timed(source: str, seeds: list[int], workers: int) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    out = rows_in_processes(source, seeds, workers=workers, chunk=max(8, len(seeds) // (4 * workers)))
    return len(out) / (time.perf_counter() - t0), out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=128)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--sources", default="captions,fall_direction")
    args = p.parse_args(argv)
    os.environ[CACHE_ENV] = "off"  # oracles computed in every run, not read from an earlier one (workers inherit)
    print(f"{'source':<16} {'1 process':>12} {f'{args.workers} processes':>14} {'ratio':>7}  same rows")
    for source in args.sources.split(","):
        rates: dict[int, list[float]] = {1: [], args.workers: []}
        ratios, same = [], True
        for rep in range(args.reps):
            seeds = [200000 + rep * args.rows + i for i in range(args.rows)]
            order = [1, args.workers] if rep % 2 == 0 else [args.workers, 1]
            got = {w: timed(source, seeds, w) for w in order}
            for w in order:
                rates[w].append(got[w][0])
            ratios.append(got[args.workers][0] / got[1][0])
            same &= [r["image"].tobytes() for r in got[1][1]] == [r["image"].tobytes() for r in got[args.workers][1]]
        one, many = statistics.median(rates[1]), statistics.median(rates[args.workers])
        print(f"{source:<16} {one:>8.1f} r/s {many:>10.1f} r/s {statistics.median(ratios):>6.2f}x  "
              f"{'yes' if same else 'NO'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
