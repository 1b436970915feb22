"""A run's summary: per (policy, task, split) success with Wilson 95% intervals, written as
``report.json`` (versioned), ``summary.csv``, ``report.md``; episodes as ``episodes.jsonl``."""

from __future__ import annotations

import csv
import json
import platform
import shlex
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from physgen.evaluation.stats import SuccessRate, tally

REPORT_VERSION = 1


@dataclass(frozen=True)
class Row(SuccessRate):
    policy: str
    task: str
    split: str
    n: int
    successes: int
    mean_reward: float
    parse_failures: int
    errors: int = 0  # episodes that could not run to their end (counted as failures)

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.interval
        return {
            "policy": self.policy, "task": self.task, "split": self.split, "episodes": self.n,
            "successes": self.successes, "success_rate": round(self.rate, 4),
            "ci95": [round(lo, 4), round(hi, 4)], "mean_reward": round(self.mean_reward, 4),
            "parse_failure_rate": round(self.parse_failures / self.n, 4) if self.n else 0.0,
            "errors": self.errors,
        }


def summarize(records: list[dict]) -> list[Row]:
    """Group episode records (``EpisodeRecord.to_dict()``) by policy, task and split."""
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["policy"], r["task"], r["split"])].append(r)
    return [Row(p, t, s, *tally(rs)) for (p, t, s), rs in groups.items()]


def format_rate(row: Row) -> str:
    lo, hi = row.interval
    return f"{row.rate:6.1%} [{lo:5.1%}, {hi:5.1%}]"


def table(rows: list[Row]) -> str:
    """A plain-text table: one line per task, one column per policy (success [95% CI], n)."""
    policies = list(dict.fromkeys(r.policy for r in rows))
    keys = list(dict.fromkeys((r.task, r.split) for r in rows))
    index = {(r.policy, r.task, r.split): r for r in rows}
    head = f"{'task':<16}{'split':<9}" + "".join(f"{p + ' (n)':<30}" for p in policies)
    lines = [head, "-" * len(head)]
    for task, split in keys:
        cells = []
        for p in policies:
            r = index.get((p, task, split))
            cells.append(f"{format_rate(r) + f' ({r.n})':<30}" if r else f"{'-':<30}")
        lines.append(f"{task:<16}{split:<9}" + "".join(cells))
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """The environment fingerprint stored with every report."""
    versions = {}
    for pkg in ("physgen", "pybullet", "numpy", "pyyaml", "pillow", "torch", "transformers", "trl", "peft",
                "accelerate", "ros-rclpy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions,
            "git_commit": _git_commit()}


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_meta(command: str, records: list[dict], wall_s: float, **fields: Any) -> dict[str, Any]:
    """A report's ``meta``, built the same way by every runner: the command, what ran (``fields``),
    the physics settings the records carry and the wall time."""
    physics = next((r["physics"] for r in records if r.get("physics")), {})
    return {"command": command, **fields, "physics": physics, "wall_time_s": round(wall_s, 1)}


def command_line() -> str:
    """This process's ``physgen`` command line, quoted as a shell would need it."""
    return "physgen " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def write_report(run_dir: Path, records: list[dict], meta: dict[str, Any], episodes: bool = True) -> dict[str, Any]:
    """Write every report file into ``run_dir`` and return the report as a dict; ``episodes``: also
    (re)write ``episodes.jsonl`` from ``records`` (not where it is kept as an append-only log)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = summarize(records)
    report = {"version": REPORT_VERSION, **meta, "environment": environment(),
              "results": [r.to_dict() for r in rows]}
    (run_dir / "report.json").write_text(json.dumps(report, indent=2, default=_json_default))
    if episodes:
        with (run_dir / "episodes.jsonl").open("w") as f:
            for r in records:
                f.write(json.dumps(r, default=_json_default) + "\n")
    with (run_dir / "summary.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["policy", "task", "split", "episodes", "successes", "success_rate", "ci95_low", "ci95_high",
                    "mean_reward", "parse_failure_rate", "errors"])
        for r in rows:
            d = r.to_dict()
            w.writerow([d["policy"], d["task"], d["split"], d["episodes"], d["successes"], d["success_rate"],
                        d["ci95"][0], d["ci95"][1], d["mean_reward"], d["parse_failure_rate"], d["errors"]])
    (run_dir / "report.md").write_text(_markdown(report, rows))
    return report


def _markdown(report: dict[str, Any], rows: list[Row]) -> str:
    lines = ["# physgen report", "", f"Command: `{report.get('command', '')}`", "",
             "Success rate per task with Wilson 95% interval (episodes in brackets).", "", "```", table(rows),
             "```", ""]
    gt = report.get("ground_truth")
    if gt:
        lines += ["## Ground truth: simulation vs the analytic centre-of-mass rule", "",
                  f"- towers checked: {gt['towers']} (marginal, |margin| < {gt['marginal_threshold_m'] * 1000:.0f} mm:"
                  f" {gt['marginal']})",
                  f"- agreement on non-marginal towers: {gt['agreement_non_marginal']:.2%}"
                  f" (disagreement {gt['disagreement_non_marginal']:.2%})",
                  f"- agreement on marginal towers: {_pct(gt['agreement_marginal'])}",
                  f"- disagreements: {gt['cause']}", ""]
    lines += ["## Physics", "", "```", json.dumps(report.get("physics", {}), indent=2), "```", "",
              "## Environment", "", "```", json.dumps(report["environment"], indent=2), "```", ""]
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2%}"


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
