"""Decodability, as in the study: linear probes on a model's activations for physical quantities.

For each scene the model reads the frame and the prompt as the policy shows them; the probe's input
is the hidden state of the last prompt token (where the answer starts) at one layer. The targets are
the scene's hidden facts (``Instance.facts``): the centre-of-mass margin, analytic stability, the
side a tower falls to, the top block's offset. A ridge probe (standardized features, closed form)
is scored by k-fold cross-validation: R^2 for quantities, accuracy for classes. The control is the
same probe on labels shuffled with a seeded permutation, so a score above it is information the
activations carry, not the probe's capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physgen.config import in_range, one_of, require

KINDS = {"margin_m": "regression", "offset_m": "regression", "stable": "classification", "side": "classification"}


def targets(facts: dict) -> dict[str, float | str | bool]:
    """The probed quantities a scene's facts give (those it has)."""
    out: dict[str, float | str | bool] = {}
    if "margin_m" in facts:
        out["margin_m"] = float(facts["margin_m"])
    if "analytic_stable" in facts:
        out["stable"] = bool(facts["analytic_stable"])
    if "analytic_side" in facts:
        out["side"] = str(facts["analytic_side"])
    if "ys" in facts and len(facts["ys"]) >= 2:
        out["offset_m"] = float(facts["ys"][-1]) - float(facts["ys"][-2])
    return out


@dataclass(frozen=True)
class ProbeConfig:
    model: str
    task: str
    scenes: int = 200  # seeds first_seed + [0, scenes), train split
    first_seed: int = 0
    layer: int = -1  # hidden-state index: -1 the last layer, 0 the embeddings
    folds: int = 5
    ridge: float = 1.0
    seed: int = 0  # folds and the shuffled control

    def __post_init__(self) -> None:
        from physgen.tasks import task_names

        one_of("task", self.task, tuple(task_names()))
        in_range("scenes", self.scenes, 10, 1_000_000)
        in_range("folds", self.folds, 2, 100)
        require(self.ridge > 0, "ridge", self.ridge, "a positive regularization strength")
        require(self.scenes >= 2 * self.folds, "scenes", self.scenes, f"at least 2 x folds ({2 * self.folds})")


def _standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(0), train.std(0) + 1e-8
    return (train - mu) / sd, (test - mu) / sd


def _ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Weights and intercept of ridge regression, solved in the smaller of the two spaces."""
    y_mean = y.mean()
    n, d = x.shape
    if d > n:  # dual form: w = X^T (X X^T + aI)^-1 y
        w = x.T @ np.linalg.solve(x @ x.T + alpha * np.eye(n), y - y_mean)
    else:
        w = np.linalg.solve(x.T @ x + alpha * np.eye(d), x.T @ (y - y_mean))
    return w, y_mean


def cross_validated(x: np.ndarray, y: np.ndarray, kind: str, folds: int, alpha: float, seed: int) -> float:
    """Out-of-fold R^2 (regression) or accuracy (classification, labels coded +-1 for a ridge classifier)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    pred = np.empty(len(y))
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        xtr, xte = _standardize(x[train], x[test])
        w, b = _ridge_fit(xtr, y[train], alpha)
        pred[test] = xte @ w + b
    if kind == "classification":
        return float(np.mean(np.sign(pred) == y))
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0


def coded(values: list, kind: str) -> np.ndarray | None:
    """Regression values as floats; two classes as -1/+1 (None for one class or more than two)."""
    if kind == "regression":
        return np.asarray(values, dtype=float)
    classes = sorted({str(v) for v in values})
    if len(classes) != 2:
        return None
    return np.array([1.0 if str(v) == classes[1] else -1.0 for v in values])


def probe_scores(features: np.ndarray, facts: list[dict], cfg: ProbeConfig) -> list[dict]:
    """One row per quantity: its kind, n, the probe's score, the shuffled-label control and the
    majority-class (or zero) baseline."""
    per_scene = [targets(f) for f in facts]
    names = [k for k in KINDS if all(k in t for t in per_scene)]
    rows = []
    for name in names:
        kind = KINDS[name]
        y = coded([t[name] for t in per_scene], kind)
        if y is None:
            continue
        shuffled = np.random.default_rng(cfg.seed + 1).permutation(y)
        baseline = max(np.mean(y > 0), np.mean(y < 0)) if kind == "classification" else 0.0
        rows.append({"quantity": name, "kind": kind, "metric": "accuracy" if kind == "classification" else "R^2",
                     "n": len(y), "probe": cross_validated(features, y, kind, cfg.folds, cfg.ridge, cfg.seed),
                     "shuffled": cross_validated(features, shuffled, kind, cfg.folds, cfg.ridge, cfg.seed),
                     "baseline": float(baseline)})
    return rows


def activations(cfg: ProbeConfig, progress=None) -> tuple[np.ndarray, list[dict]]:
    """(scenes x hidden size) features at ``cfg.layer`` and each scene's facts."""
    import torch

    from physgen.cell.cell import RobotCell
    from physgen.evaluation.episode import begin
    from physgen.policy.base import Observation
    from physgen.policy.vlm import TransformersPolicy, VLMConfig
    from physgen.tasks import load_task

    task = load_task(cfg.task)
    policy = TransformersPolicy(VLMConfig(model=cfg.model))
    rows, facts = [], []
    try:
        with RobotCell() as cell, torch.inference_mode():
            for seed in range(cfg.first_seed, cfg.first_seed + cfg.scenes):
                inst, image = begin(cell, task, seed, "train")
                enc = policy.inputs([Observation(image, inst.prompt, task.name, seed, task.answer_format)])
                out = policy.model(**enc, output_hidden_states=True)
                hidden = out.hidden_states
                if not -len(hidden) <= cfg.layer < len(hidden):
                    raise ValueError(f"layer {cfg.layer}: the model has hidden states 0..{len(hidden) - 1}")
                rows.append(hidden[cfg.layer][0, -1].float().cpu().numpy())
                facts.append(inst.facts)
                if progress is not None:
                    progress(1)
    finally:
        policy.close()
    return np.stack(rows), facts


def table(rows: list[dict]) -> str:
    lines = ["| quantity | metric | probe | shuffled labels | baseline | n |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['quantity']} | {r['metric']} | {r['probe']:.3f} | {r['shuffled']:.3f} | {r['baseline']:.3f} | "
              f"{r['n']} |" for r in rows]
    return "\n".join(lines)
