"""The report's figures (PNG, matplotlib without a display) and example frames with the model's answer
and the outcome drawn on them (OpenCV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from physgen.evaluation.matrix import Matrix


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("the report's figures need matplotlib: pip install 'physgen[report]'") from e

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def matrix_heatmap(matrix: Matrix, path: Path) -> Path:
    """Success rate per (row, column); each cell labelled with the rate and its 95% interval, the paired
    difference to the base row and the verdict, and n (episodes, training seeds). Cells flagged for
    unparsed answers are greyed and hatched, labelled FORMAT, with no verdict."""
    from matplotlib.patches import Rectangle

    from physgen.evaluation.matrix import SHORT

    plt = _pyplot()
    rates = np.full((len(matrix.rows), len(matrix.columns)), np.nan)
    for (r, c), cell in matrix.cells.items():
        rates[matrix.rows.index(r), matrix.columns.index(c)] = cell.rate
    fig, ax = plt.subplots(figsize=(2.4 * len(matrix.columns) + 2.8, 1.05 * len(matrix.rows) + 2.0))
    ax.imshow(rates, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=30, ha="right")
    ax.set_yticks(range(len(matrix.rows)), [matrix.label(r) for r in matrix.rows])
    for (r, c), cell in matrix.cells.items():
        x, y = matrix.columns.index(c), matrix.rows.index(r)
        lo, hi = cell.interval
        size = f"n={cell.n}" + (f", {cell.seeds} seeds" if cell.seeds > 1 else "")
        lines = [f"{cell.rate:.0%} [{lo:.0%}, {hi:.0%}]"]
        if cell.flagged:
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor="0.55", alpha=0.85, hatch="///",
                                   edgecolor="0.3", linewidth=0))
            parsed = "none parsed" if cell.parsed_rate is None else f"{cell.parsed_rate:.0%} of parsed"
            lines += [f"FORMAT {cell.parse_failure_rate:.0%} unparsed", parsed]
        elif cell.diff is not None:
            star = "" if cell.corrected else "*"
            lines.append("{:+.0f} pp [{:+.0f}, {:+.0f}]".format(*(100 * v for v in cell.diff)))
            lines.append(f"{SHORT[cell.verdict]}{star}")
        lines.append(size)
        dark = cell.flagged or cell.rate < 0.6
        ax.text(x, y, "\n".join(lines), ha="center", va="center", fontsize=7.5,
                color="white" if dark else "black", fontweight="bold" if cell.flagged else "normal")
    ax.set_title(f"success rate [95% interval]; vs {matrix.base}: paired difference [95% interval], verdict "
                 f"(Holm, alpha {matrix.alpha:g}; *: reference row, unadjusted)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curves(series: dict[str, list[tuple[float, float]]], title: str, ylabel: str, path: Path,
           xlabel: str = "step") -> Path:
    """One line per name: (x, y) points."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, points in series.items():
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, label=name, marker="." if len(points) < 40 else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def annotated_frame(image: np.ndarray, record: dict, scale: int = 2) -> np.ndarray:
    """The frame the policy saw, enlarged, with the policy, its answer, the codec's reason and the
    outcome written under it (green: success, red: failure)."""
    import cv2

    h, w = image.shape[:2]
    big = cv2.resize(image, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
    lines = [f"{record['policy']} on {record['task']} seed {record['seed']} ({record['split']})",
             f"answer: {str(record['raw'])[:40]!r} -> {record['reason']}",
             f"reward {float(record['reward']):.2f}, {'success' if record['success'] else 'failure'}"
             f"{', ' + record['error'] if record.get('error') else ''}"]
    band = np.full((22 * len(lines) + 8, big.shape[1], 3), 255, dtype=np.uint8)
    colour = (0, 140, 0) if record["success"] else (200, 0, 0)
    for i, text in enumerate(lines):
        cv2.putText(band, text, (6, 20 + 22 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    colour if i == 2 else (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([big, band])
