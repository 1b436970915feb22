"""``physgen report RUN_DIR``: the shareable report of an evaluation run.

From ``RUN_DIR/episodes.jsonl`` (``physgen eval``) and, when given, training runs, a sample-efficiency
file and probe files, it writes into ``RUN_DIR``: ``results.json`` (schema ``physgen.results``,
versioned), ``matrix.csv``, PNG figures in ``figures/`` (the transfer-matrix heatmap with intervals,
training curves, sample-efficiency curves), example frames with the answer and outcome drawn on
them in ``frames/``, and ``report.html``, one self-contained page (images inline) that opens offline.
Every number comes from the episode records; the page says how many each one used.
"""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path

from physgen.evaluation.matrix import REFERENCES, SHORT, split_label, transfer_matrix
from physgen.evaluation.run import EPISODES, EpisodeFile
from physgen.evaluation.summary import _json_default, environment, summarize

RESULTS_SCHEMA, RESULTS_VERSION = "physgen.results", 2  # 2: matrix cells pool training seeds, with verdicts


def training_run(path: Path) -> dict:
    """A training run directory's kind, config and curve (SFT: loss; GRPO: mean reward)."""
    path = Path(path)
    for kind, name, metric in (("sft", "physgen_sft.json", "loss"), ("grpo", "physgen_grpo.json", "reward")):
        if (path / name).is_file():
            log = [json.loads(ln) for ln in (path / "log.jsonl").read_text().splitlines()] \
                if (path / "log.jsonl").is_file() else []
            return {"dir": str(path), "kind": kind, "config": json.loads((path / name).read_text()),
                    "metric": metric, "curve": [(r["step"], r[metric]) for r in log if metric in r and "step" in r]}
    raise FileNotFoundError(f"{path}: not a training run (no physgen_sft.json or physgen_grpo.json)")


def build(run_dir: Path, base: str | None = None, train: list[Path] = (), efficiency: Path | None = None,
          probes: list[Path] = (), frames: bool = True, *, alpha: float = 0.05, format_threshold: float = 0.2,
          references: tuple[str, ...] = REFERENCES, study: dict | None = None) -> tuple[dict, object]:
    """Write every report file into ``run_dir``; returns ``results.json``'s content and the matrix.
    ``alpha``, ``format_threshold``, ``references``: the transfer matrix's (``transfer_matrix``);
    ``study``: what ``physgen study`` adds (its config, rows, stage times, policy rewards, ground truth)."""
    from physgen.evaluation import figures

    run_dir = Path(run_dir)
    records = EpisodeFile(run_dir / EPISODES).records
    if not records:
        raise FileNotFoundError(f"{run_dir / EPISODES}: no episode records (run `physgen eval --out {run_dir}`)")
    rows = list(dict.fromkeys(r["policy"] for r in records))  # policy labels; a matrix row pools ROW.seedK
    rows = sorted(rows, key=lambda p: split_label(p)[0] in references)  # reference rows last
    matrix = transfer_matrix(records, base=base or split_label(rows[0])[0], rows=rows, alpha=alpha,
                             format_threshold=format_threshold, references=references)
    runs = [training_run(p) for p in train]
    eff = json.loads(Path(efficiency).read_text()) if efficiency else None
    probe_docs = [json.loads(Path(p).read_text()) for p in probes]
    (run_dir / "figures").mkdir(exist_ok=True)
    matrix.write_csv(run_dir / "matrix.csv")
    pictures = {"transfer matrix": figures.matrix_heatmap(matrix, run_dir / "figures" / "matrix.png")}
    for kind, label in (("sft", "SFT loss"), ("grpo", "GRPO mean reward")):
        series = {_run_name(r["dir"]): r["curve"] for r in runs if r["kind"] == kind}
        if series:
            path = run_dir / "figures" / f"{kind}_curves.png"
            pictures[label] = figures.curves(series, label, label.split()[-1], path)
    if eff:
        series = {c["model"]: [tuple(p) for p in c["points"]] for c in eff["curves"]}
        pictures["sample efficiency"] = figures.curves(
            series, f"success on {eff['config']['task']} during SFT", "success rate",
            run_dir / "figures" / "efficiency.png", xlabel="SFT step")
    examples = _example_frames(records, run_dir / "frames") if frames else []
    results = {
        "schema": RESULTS_SCHEMA, "version": RESULTS_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run_dir": str(run_dir), "episodes": len(records), "base": matrix.base, "matrix": matrix.to_dict(),
        "summary": [r.to_dict() for r in summarize(records)],
        "models": {p: next(r.get("model") for r in records if r["policy"] == p) for p in rows},
        "fingerprints": {p: sorted({str(r.get("fingerprint")) for r in records if r["policy"] == p}) for p in rows},
        "seeds": _seeds(records), "physics": records[0].get("physics", {}), "environment": environment(),
        "training": runs, "efficiency": eff, "probes": probe_docs,
        "figures": {k: str(v.relative_to(run_dir)) for k, v in pictures.items()},
        "frames": [str(p.relative_to(run_dir)) for p, _ in examples], "study": study,
    }
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, default=_json_default))
    (run_dir / "report.html").write_text(_page(results, matrix, pictures, examples))
    return results, matrix


def _run_name(path: str) -> str:
    """``runs/x/sft_shift/seed1`` -> ``sft_shift/seed1``; ``runs/x/pretrain`` -> ``pretrain``."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.name.startswith("seed") else p.name


def _study_section(study: dict | None, matrix) -> str:
    """The study's own part of the page: conditions and what differs between them, the GRPO rows'
    policy reward, the ground-truth check, warnings and the stage times."""
    if not study:
        return ""
    e = html.escape
    cfg = study["config"]
    sft, grpo = cfg["sft"], cfg["grpo"]
    parts = [f"<h2>Study</h2><p>Source tasks {e(', '.join(cfg['source_tasks']))}; conditions "
             f"{e(', '.join(cfg['conditions']))}, each trained with seeds {e(str(cfg['seeds']))}. "
             f"SFT: {sft['steps']} optimizer steps of {sft['batch_size']} rows on {sft['examples']} scenes; GRPO: "
             f"{grpo['steps']} optimizer steps, one scene and {grpo['num_generations']} sampled answers per step, "
             f"on the same {grpo['examples']} scenes (matched scenes and steps; what differs: SFT learns from the "
             f"oracle's answer, GRPO from the reward of its own sampled answers, and the answers per scene). "
             f"Rehearsal of pre-training questions: SFT {sft['rehearsal']:.0%}, GRPO {grpo['rehearsal']:.0%} of rows. "
             f"Evaluation: each training seed of a row ran "
             f"{'an equal share' if cfg['eval']['seed_scenes'] == 'share' else 'all'} of the base's scenes.</p>"]
    spread = []
    for r in matrix.rows:
        for c in matrix.columns:
            cell = matrix.cells.get((r, c))
            if cell is not None and cell.seeds > 1:
                spread.append(f"<tr><td>{e(r)}</td><td>{e(c)}</td><td>"
                              + ", ".join(f"seed {k}: {s}/{n}" for k, n, s in cell.per_seed) + "</td></tr>")
    if spread:
        parts.append("<h3>Spread between training seeds</h3><table><tr><th>row</th><th>column</th>"
                     f"<th>successes per seed</th></tr>{''.join(spread)}</table>")
    if study.get("rewards"):
        rows = "".join(
            f"<tr><td>{e(d['row'])}</td><td>{e(d['start'])}</td><td>{d['start_reward']['mean_reward']:.3f}</td>"
            f"<td>{d['trained_reward']['mean_reward']:.3f}</td><td>{d['difference']['mean']:+.3f} "
            f"[{d['difference']['low']:+.3f}, {d['difference']['high']:+.3f}]</td>"
            f"<td>{d['config']['scenes']} x {d['config']['samples']}</td></tr>" for d in study["rewards"])
        parts.append("<h3>GRPO: policy reward against the start model</h3><p>The sampling policy's mean reward "
                     "(what GRPO maximizes) on the same held-apart scenes and sampling seeds, paired per scene.</p>"
                     "<table><tr><th>row</th><th>start</th><th>start reward</th><th>trained reward</th>"
                     f"<th>paired change [95% CI]</th><th>scenes x answers</th></tr>{rows}</table>")
    gt = study.get("ground_truth")
    if gt:
        parts.append(f"<h3>Ground truth</h3><p>The simulation against the analytic centre-of-mass rule on "
                     f"{gt['towers']} towers: agreement {gt['agreement_non_marginal']:.1%} on non-marginal towers "
                     f"({gt['marginal']} marginal within {gt['marginal_threshold_m'] * 1000:.0f} mm). "
                     f"{e(gt['cause'])}.</p>")
    if study.get("warnings"):
        parts.append("<h3>Warnings</h3><ul>" + "".join(f"<li>{e(w)}</li>" for w in study["warnings"]) + "</ul>")
    times = "".join(f"<tr><td>{e(k)}</td><td>{v:.0f}</td></tr>" for k, v in study.get("stages_s", {}).items())
    parts.append(f"<h3>Stage times</h3><table><tr><th>stage</th><th>seconds</th></tr>{times}</table>")
    return "".join(parts)


def _seeds(records: list[dict]) -> dict[str, list[int]]:
    out: dict[str, set[int]] = {}
    for r in records:
        out.setdefault(f"{r['task']}/{r['split']}", set()).add(int(r["seed"]))
    return {k: sorted(v) for k, v in out.items()}


def _example_frames(records: list[dict], out: Path) -> list[tuple[Path, dict]]:
    """The first episode of each (policy, task, split), its frame rendered again (scenes are
    deterministic) and annotated."""
    import cv2

    from physgen.cell.cell import RobotCell
    from physgen.evaluation.episode import begin
    from physgen.evaluation.figures import annotated_frame
    from physgen.tasks import load_task

    firsts: dict[tuple, dict] = {}
    for r in sorted(records, key=lambda r: int(r["seed"])):
        firsts.setdefault((r["policy"], r["task"], r["split"]), r)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    with RobotCell() as cell:
        for (policy, task, split), r in firsts.items():
            _, image = begin(cell, load_task(task), int(r["seed"]), split)
            path = out / f"{policy}_{task}_{split}_{r['seed']}.jpg"
            cv2.imwrite(str(path), annotated_frame(image, r)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
            made.append((path, r))
    return made


def _img(path: Path, mime: str) -> str:
    return f'<img src="data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode()}">'


def _matrix_cell(cell, matrix) -> str:
    """One matrix cell of the page: success [CI]; the paired difference [CI], verdict, p and MDE; n, seeds,
    per-seed rates, reward and parse failures. A flagged cell: FORMAT and its success among parsed answers."""
    if cell is None:
        return "<td></td>"
    lo, hi = cell.interval
    out = [f"{cell.rate:.0%} [{lo:.0%}, {hi:.0%}]"]
    if cell.flagged:
        parsed = "none parsed" if cell.parsed_rate is None else \
            f"{cell.parsed_rate:.0%} success among the {cell.parsed} parsed"
        out.append(f"<b>FORMAT</b>: {cell.parse_failure_rate:.0%} unparsed; {parsed}; no verdict")
    elif cell.diff is not None:
        out.append("vs {}: {:+.0%} [{:+.0%}, {:+.0%}] <b>{}</b>".format(html.escape(str(matrix.base)), *cell.diff,
                                                                     SHORT[cell.verdict]))
        p = f"Holm-adjusted {cell.p_adjusted:.3g}" if cell.corrected else "reference row, not adjusted"
        mde = "not reachable" if cell.mde is None else f"{cell.mde:.0%}"
        out.append(f"<small>{cell.paired} pairs, McNemar p={cell.p:.3g} ({p}); mde {mde}</small>")
    seeds = "" if cell.seeds < 2 else f", {cell.seeds} seeds (" + ", ".join(f"{x:.0%}" for x in cell.seed_rates) + ")"
    out.append(f"<small>n={cell.n}{seeds}, reward {cell.mean_reward:.2f}, parse failures "
               f"{cell.parse_failure_rate:.0%}</small>")
    cls = ' class="format"' if cell.flagged else ""
    return f"<td{cls}>{'<br>'.join(out)}</td>"


def _matrix_legend(matrix) -> str:
    e = html.escape
    refs = e(", ".join(matrix.references))
    return (
        "<p>Each cell: the success rate [95% interval: Wilson; for rows of several training seeds "
        "(<code>ROW.seedK</code> policies, pooled) the hull of Wilson and a two-level bootstrap over seeds and "
        f"episodes]; the paired difference to the base row (<b>{e(str(matrix.base))}</b>) on the same scenes [95% "
        "interval: Newcombe's square-and-add for paired proportions, hulled with the paired bootstrap for several "
        "seeds] and the verdict; n episodes. <b>transfer</b> / <b>negative</b>: the exact McNemar test is "
        "significant after Holm's correction over the cells of the non-base, non-reference rows (family-wise "
        f"level {matrix.alpha:g}) and the interval lies above / below 0. <b>no diff</b>: none detected, which is "
        "not evidence of no effect: <b>mde</b> is the smallest true difference these pairs detect with 80% power "
        "(not reachable: none is). "
        f"Reference rows ({refs}) are judged at the unadjusted level. <b>FORMAT</b>: more than "
        f"{matrix.format_threshold:.0%} of the answers did not parse, so the cell measures the answer format "
        "rather than physics; it gets no verdict, and its success among parsed answers is shown instead.</p>")


def _page(results: dict, matrix, pictures: dict, examples: list) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in matrix.columns)
    body = []
    for r in matrix.rows:
        cells = [_matrix_cell(matrix.cells.get((r, c)), matrix) for c in matrix.columns]
        body.append(f"<tr><th>{e(matrix.label(r))}</th>{''.join(cells)}</tr>")
    figs = "".join(f"<h3>{e(k)}</h3>{_img(v, 'image/png')}" for k, v in pictures.items())
    frames = "".join(f"<figure>{_img(p, 'image/jpeg')}</figure>" for p, _ in examples)
    env = results["environment"]
    envrows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in {
        "python": env["python"], "platform": env["platform"], "git commit": env["git_commit"],
        **{f"package {k}": v for k, v in env["packages"].items()},
        "physics": json.dumps(results["physics"]), "seeds": json.dumps(results["seeds"]),
        "fingerprints": json.dumps(results["fingerprints"])}.items())
    probes = "".join(
        f"<h3>{e(p['config']['model'])} on {e(p['config']['task'])}</h3><table><tr><th>quantity</th><th>metric</th>"
        "<th>probe</th><th>shuffled labels</th><th>baseline</th><th>n</th></tr>"
        + "".join(f"<tr><td>{e(s['quantity'])}</td><td>{e(s['metric'])}</td><td>{s['probe']:.3f}</td>"
                  f"<td>{s['shuffled']:.3f}</td><td>{s['baseline']:.3f}</td><td>{s['n']}</td></tr>"
                  for s in p["scores"])
        + "</table>" for p in results["probes"])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>physgen report</title><style>
body{{font-family:sans-serif;margin:2em;max-width:1400px}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}} img{{max-width:100%}}
figure{{display:inline-block;margin:4px}} small{{color:#555}} td.format{{background:#ddd}}</style></head><body>
<h1>physgen report</h1>
<p>{results['episodes']} episodes from <code>episodes.jsonl</code> in {e(results['run_dir'])}; every number below
is computed from those records (<code>results.json</code>, schema {RESULTS_SCHEMA} v{RESULTS_VERSION}).</p>
<h2>Transfer matrix</h2>{_matrix_legend(matrix)}
<table><tr><th></th>{head}</tr>{''.join(body)}</table>
{_study_section(results.get("study"), matrix)}
<h2>Figures</h2>{figs}
{'<h2>Decodability (linear probes)</h2>' + probes if probes else ''}
<h2>Example frames</h2><p>The frame each policy saw in its first episode of each task, with its answer and the
outcome.</p>{frames}
<h2>Environment</h2><table>{envrows}</table>
</body></html>
"""
