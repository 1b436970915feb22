"""``physgen study --config FILE``: the whole protocol from one YAML file, skipping what is done.

1. the base model: a recipe built locally, then (``pretrain.steps`` > 0) generic visual pre-training
   on caption questions in every answer format of the suite (physics-free), or a model directory;
2. the trained conditions, each with every training seed of ``seeds``, per source task:
   ``sft`` (SFT from the base), ``grpo`` (GRPO from the base, on the same scenes and for the same
   number of optimizer steps as ``sft``), ``sft_grpo`` (GRPO from that seed's SFT model), and
   ``loo`` (multi-task SFT on every task but one, evaluated on the one left out);
3. evaluation of every row and of expert and chance on every eval task and split, on matched scenes:
   the base, expert and chance run ``episodes`` scenes per cell, each training seed of a condition an
   equal share of the same scenes (or all of them), so a row pooled over its seeds pairs with the base
   scene by scene (in-process in ``workers`` processes, or over the ROS graph, optionally recorded);
4. the analyses: the GRPO rows' policy reward against their start model on the same held-apart
   scenes, the simulation-vs-analytic ground-truth check, linear probes with their shuffled control,
   and sample efficiency (SFT steps to criterion on a task from the base and from a source-trained
   model);
5. the report, with the transfer matrix, every stage's output and the stage times.

Everything lands under ``out``: ``pretrain/``, ``<condition>_<task>/seed<k>/``, ``datasets/`` (rows
shared by the runs that train on the same scenes), ``eval/`` (episodes, matrix, report), ``bags/``,
``reward/``, ``ground_truth.json``, ``probes/``, ``efficiency/``, ``stages.json``. A stage whose result
exists is skipped; a stopped training run or evaluation resumes.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from physgen.config import ConfigError, build, in_range, load_yaml, one_of, require, to_dict
from physgen.evaluation.matrix import check_settings
from physgen.preflight import writable_dir
from physgen.types import SPLITS

log = logging.getLogger("physgen")

CONDITIONS = ("sft", "grpo", "sft_grpo", "loo")
REFERENCES = ("expert", "chance")


class _Stage:
    """A training stage: ``steps`` 0 skips it."""

    steps: int

    def __post_init__(self) -> None:
        in_range("steps", self.steps, 0, 10_000_000)


@dataclass(frozen=True)
class PretrainStage(_Stage):
    steps: int = 1500  # 0: the model is used as it is
    examples: int = 2048  # caption questions (PER_SCENE per rendered scene)
    learning_rate: float = 3e-4


@dataclass(frozen=True)
class SFTStage(_Stage):
    """The study's SFT settings: each field is the :class:`~physgen.training.sft_config.SFTRunConfig`
    field of that name, with the study's default."""

    steps: int = 150
    examples: int = 256  # training scenes, shared with GRPO from the base
    lora: bool = False
    learning_rate: float = 3e-4
    batch_size: int = 8
    rehearsal: float = 0.25  # fraction of rows that are pre-training questions (0: the study's pure condition)


@dataclass(frozen=True)
class GRPOStage(_Stage):
    """The study's GRPO settings: each field is the :class:`~physgen.training.grpo_config.GRPORunConfig`
    field of that name, with the study's default."""

    steps: int = 150  # from the base: must equal sft.steps (matched budgets); from SFT: as given
    examples: int = 256  # prompts: the same scenes as SFT's
    mode: str = "one-step"
    lora: bool = False
    learning_rate: float = 1e-4
    beta: float = 0.04
    num_generations: int = 8
    max_completion_length: int = 6
    reward_workers: int = 2
    rehearsal: float = 0.25


@dataclass(frozen=True)
class LOOStage(_Stage):
    steps: int = 300  # multi-task SFT on every eval task but one
    examples: int = 128  # scenes per task
    tasks: tuple[str, ...] = ()  # the tasks left out, one row each (empty: the source tasks)


@dataclass(frozen=True)
class EvalStage:
    tasks: tuple[str, ...] = ()  # empty: every task
    episodes: int = 30  # scenes per cell (task and split)
    source_episodes: int = 0  # scenes on the source tasks (0: as episodes); more there makes the diagonal sharp
    splits: tuple[str, ...] = SPLITS
    heldout_tasks: tuple[str, ...] = ()  # tasks evaluated on the held-out split (empty: every task)
    seed_scenes: str = "share"  # share: each training seed runs an equal share of the scenes; all: every scene
    seed: int = 0
    via: str = "inprocess"  # or ros: the evaluation graph, pip-only bringup
    record: bool = False  # via ros: every policy's episodes also to a bag in out/bags/
    workers: int = 2  # processes (in-process) or graphs (ros) at once
    format_threshold: float = 0.2  # a cell with more parse failures than this is a format result, flagged
    alpha: float = 0.05  # verdicts: Holm-corrected over the trained rows' cells

    def __post_init__(self) -> None:
        in_range("episodes", self.episodes, 1, 1_000_000)
        in_range("source_episodes", self.source_episodes, 0, 1_000_000)
        in_range("workers", self.workers, 1, 64)
        check_settings(self.alpha, self.format_threshold)
        one_of("via", self.via, ("inprocess", "ros"))
        one_of("seed_scenes", self.seed_scenes, ("share", "all"))
        for s in self.splits:
            one_of("splits", s, SPLITS)
        require(not self.record or self.via == "ros", "record", self.record, "false unless via is ros")


@dataclass(frozen=True)
class RewardStage:
    scenes: int = 30  # held-apart scenes (evaluation seeds, never training prompts); 0: no reward stage
    samples: int = 8  # answers per scene, at temperature 1


@dataclass(frozen=True)
class GroundTruthStage:
    towers: int = 100  # 0: no check


@dataclass(frozen=True)
class ProbeStage:
    tasks: tuple[str, ...] = ()  # empty: no probes
    scenes: int = 100
    rows: tuple[str, ...] = ()  # which rows' models (seed 0 of trained ones); empty: base and every condition


@dataclass(frozen=True)
class EfficiencyStage:
    task: str = ""  # empty: no efficiency stage; else a task other than the source
    max_steps: int = 100
    eval_every: int = 25
    episodes: int = 20
    criterion: float = 0.8
    examples: int = 256


@dataclass(frozen=True)
class StudyConfig:
    out: Path
    model: str = "tiny-qwen2-vl"  # a recipe (built locally) or a model directory
    source_tasks: tuple[str, ...] = ("shift",)
    seed: int = 0  # pre-training and evaluation scenes
    seeds: tuple[int, ...] = (0, 1, 2)  # training seeds of every trained condition
    conditions: tuple[str, ...] = ("sft", "grpo")
    pretrain: PretrainStage = field(default_factory=PretrainStage)
    sft: SFTStage = field(default_factory=SFTStage)
    grpo: GRPOStage = field(default_factory=GRPOStage)
    loo: LOOStage = field(default_factory=LOOStage)
    eval: EvalStage = field(default_factory=EvalStage)
    reward: RewardStage = field(default_factory=RewardStage)
    ground_truth: GroundTruthStage = field(default_factory=GroundTruthStage)
    probe: ProbeStage = field(default_factory=ProbeStage)
    efficiency: EfficiencyStage = field(default_factory=EfficiencyStage)

    def __post_init__(self) -> None:
        from physgen.tasks import task_names

        names = tuple(task_names())
        for c in self.conditions:
            one_of("conditions", c, CONDITIONS)
        trained = [c for c in self.conditions if c != "loo"]
        require(len(self.source_tasks) > 0 or not trained, "source_tasks", self.source_tasks, "one or more tasks")
        require(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds), "seeds", self.seeds,
                "one or more distinct training seeds")
        for t in (*self.source_tasks, *self.eval.tasks, *self.eval.heldout_tasks, *self.probe.tasks, *self.loo.tasks):
            one_of("task", t, names)
        if self.efficiency.task:
            one_of("efficiency.task", self.efficiency.task, names)
        for c in self.conditions:
            name = "grpo" if c == "sft_grpo" else c
            steps = getattr(self, name).steps
            require(steps > 0, f"{name}.steps", steps, f"> 0 while conditions has {c}")
        if "sft" in self.conditions and "grpo" in self.conditions:  # the study's comparison at matched budgets
            require(self.grpo.steps == self.sft.steps, "grpo.steps", self.grpo.steps,
                    f"sft.steps ({self.sft.steps}): SFT and GRPO from the base take the same optimizer steps")
            require(self.grpo.examples == self.sft.examples, "grpo.examples", self.grpo.examples,
                    f"sft.examples ({self.sft.examples}): SFT and GRPO from the base train on the same scenes")
        require("sft_grpo" not in self.conditions or "sft" in self.conditions, "conditions", self.conditions,
                "sft as well when sft_grpo is asked for (GRPO starts from the SFT model)")

    @classmethod
    def load(cls, path: Path) -> StudyConfig:
        return build(cls, load_yaml(path), "study")


def needs(cfg: StudyConfig) -> None:
    """Import what the stages of ``cfg`` will use, so a missing install stops the study before any
    work (ModuleNotFoundError naming the module)."""
    import importlib

    modules = ["torch", "transformers", "trl", "matplotlib", "cv2"]
    if cfg.eval.via == "ros":
        modules += ["rclpy", "sensor_msgs", "mcap"] if cfg.eval.record else ["rclpy", "sensor_msgs"]
    for m in modules:
        importlib.import_module(m)


def _done(run: Path) -> bool:
    return (run / "model" / "config.json").is_file()


def label(condition: str, task: str, seed: int) -> str:
    """A trained model's row label: ``<condition>_<task>.seed<k>`` (the matrix pools the seeds)."""
    return f"{condition}_{task}.seed{seed}"


class Stages:
    """Wall time per stage, kept in ``OUT/stages.json`` (a resumed study adds to it)."""

    def __init__(self, out: Path):
        self.path = Path(out) / "stages.json"
        self.times: dict[str, float] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def run(self, name: str, fn, *args):
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.times[name] = round(self.times.get(name, 0.0) + time.perf_counter() - t0, 1)
            self.path.write_text(json.dumps(self.times, indent=2))


def _train(cfg: StudyConfig, run: Path, progress: bool, grpo: bool = False, **fields) -> str:
    """Train (or resume) an SFT or GRPO run into ``run`` unless its model is there, with the study's
    shared datasets; returns the model directory."""
    from physgen.training.grpo import train_grpo
    from physgen.training.grpo_config import GRPORunConfig
    from physgen.training.sft import train_sft
    from physgen.training.sft_config import SFTRunConfig

    if not _done(run):
        common = {"out": run, "dataset_cache": str(Path(cfg.out) / "datasets"), **fields}
        if grpo:
            train_grpo(GRPORunConfig(**common), progress)
        else:
            train_sft(SFTRunConfig(sample_answers=0, **common), progress)
    return str(run / "model")


def base_model(cfg: StudyConfig, progress: bool, train: bool = True) -> str:
    """The base model: pre-trained here (``train`` false: only found, see :func:`trained`), or the recipe's."""
    from physgen.models.recipes import resolve_model
    from physgen.tasks.captions import CAPTIONS

    if cfg.pretrain.steps == 0:
        return str(resolve_model(cfg.model))
    p = cfg.pretrain
    if not train:
        return trained(Path(cfg.out) / "pretrain")
    return _train(cfg, Path(cfg.out) / "pretrain", progress, task=CAPTIONS, model=cfg.model, steps=p.steps,
                  seed=cfg.seed, examples=p.examples, lora=False, learning_rate=p.learning_rate)


def _sft(cfg: StudyConfig, task: str, model: str, seed: int, run: Path, progress: bool) -> str:
    return _train(cfg, run, progress, task=task, model=model, seed=seed, **asdict(cfg.sft))


def _grpo(cfg: StudyConfig, task: str, model: str, seed: int, run: Path, progress: bool) -> str:
    return _train(cfg, run, progress, grpo=True, task=task, model=model, seed=seed, **asdict(cfg.grpo))


def _loo(cfg: StudyConfig, left_out: str, model: str, seed: int, run: Path, progress: bool) -> str:
    from physgen.tasks import task_names

    others = [t for t in (cfg.eval.tasks or task_names()) if t != left_out]
    s, o = cfg.sft, cfg.loo
    return _train(cfg, run, progress, task="+".join(others), model=model, steps=o.steps, seed=seed,
                  examples=o.examples, lora=s.lora, learning_rate=s.learning_rate, batch_size=s.batch_size,
                  rehearsal=s.rehearsal)


class _FindOnly:
    """A :class:`Stages` stand-in that runs no training: each stage's run (its next-to-last
    argument) must be done."""

    def run(self, name: str, fn, *args):
        return trained(args[-2])


@dataclass(frozen=True)
class Row:
    """A trained model: its label (``row.seedK``), directory, training run, condition, task and seed;
    ``start``: the label of the model it started from (the base, or an SFT model)."""

    label: str
    model: str
    run: Path
    condition: str
    task: str
    seed: int
    start: str


def trained(run: Path) -> str:
    """The model of a training run that must be done already (an evaluation shard never trains)."""
    if not _done(run):
        raise ConfigError("eval-shard", str(run), "a finished training run: train first (physgen study without "
                                                  "--eval-shard), then start the evaluation shards")
    return str(run / "model")


def train_conditions(cfg: StudyConfig, base: str, progress: bool, stages: Stages | None = None,
                     train: bool = True) -> list[Row]:
    """Every trained model, condition by condition, seed by seed (``train`` false: only found)."""
    stages = (stages or Stages(cfg.out)) if train else _FindOnly()
    out = Path(cfg.out)
    rows: list[Row] = []
    for task in cfg.source_tasks:
        for seed in cfg.seeds:
            if "sft" in cfg.conditions:
                run = out / f"sft_{task}" / f"seed{seed}"
                sft = stages.run(f"sft_{task}", _sft, cfg, task, base, seed, run, progress)
                rows.append(Row(label("sft", task, seed), sft, run, "sft", task, seed, "base"))
            if "grpo" in cfg.conditions:
                run = out / f"grpo_{task}" / f"seed{seed}"
                model = stages.run(f"grpo_{task}", _grpo, cfg, task, base, seed, run, progress)
                rows.append(Row(label("grpo", task, seed), model, run, "grpo", task, seed, "base"))
            if "sft_grpo" in cfg.conditions:
                run = out / f"sft_grpo_{task}" / f"seed{seed}"
                model = stages.run(f"sft_grpo_{task}", _grpo, cfg, task, sft, seed, run, progress)
                rows.append(Row(label("sft_grpo", task, seed), model, run, "sft_grpo", task, seed,
                                label("sft", task, seed)))
    if "loo" in cfg.conditions:
        for task in cfg.loo.tasks or cfg.source_tasks:
            for seed in cfg.seeds:
                run = out / f"loo_{task}" / f"seed{seed}"
                model = stages.run(f"loo_{task}", _loo, cfg, task, base, seed, run, progress)
                rows.append(Row(label("loo", task, seed), model, run, "loo", task, seed, "base"))
    return rows


def eval_jobs(cfg: StudyConfig) -> list[tuple[str, list[str]]]:
    """``(split, task entries)`` of the evaluation: every eval task on the train split, the held-out
    tasks on the held-out split; source tasks with their own episode count."""
    from physgen.tasks import task_names

    e = cfg.eval
    tasks = list(e.tasks or task_names())
    entry = {t: f"{t}:{e.source_episodes}" if t in cfg.source_tasks and e.source_episodes else t for t in tasks}
    jobs = []
    for split in e.splits:
        chosen = tasks if split == "train" or not e.heldout_tasks else [t for t in tasks if t in e.heldout_tasks]
        jobs.append((split, [entry[t] for t in chosen]))
    return jobs


def eval_specs(cfg: StudyConfig, base: str, rows: list[Row]):
    """The policies: base, every trained model on its share of the scenes, expert and chance."""
    from physgen.evaluation.run import PolicySpec

    n = len(cfg.seeds)
    specs = [PolicySpec("base", "vlm", base)]
    for r in rows:
        shard = (cfg.seeds.index(r.seed), n) if cfg.eval.seed_scenes == "share" else (0, 1)
        specs.append(PolicySpec(r.label, "vlm", r.model, shard))
    return specs + [PolicySpec(k, k) for k in REFERENCES]


def evaluate(cfg: StudyConfig, base: str, rows: list[Row], progress: bool, shard=None) -> list[dict]:
    """Every condition's episodes (those of ``shard``, a :class:`~physgen.evaluation.workers.Shard`;
    default all), in-process or over the ROS graph."""
    from physgen.evaluation.workers import Shard, evaluate_parallel

    e = cfg.eval
    specs = eval_specs(cfg, base, rows)
    loo = {r.label for r in rows if r.condition == "loo"}
    out = Path(cfg.out) / "eval"
    if shard is not None and shard.count > 1:  # its own directory: shards on other machines never share a file
        out = shard_dir(cfg, shard)
    else:
        collect_shards(out)
    jobs = eval_jobs(cfg)
    how = {"workers": e.workers, "via": e.via, "shard": shard or Shard(), "progress": progress,
           "bags": Path(cfg.out) / "bags" if e.record else None}
    records = evaluate_parallel([s for s in specs if s.label not in loo], jobs, e.episodes, e.seed, out, **how)
    for r in rows:  # a left-out task's row: evaluated on that task only
        if r.label in loo:
            spec = next(s for s in specs if s.label == r.label)
            loo_jobs = [(split, [t for t in tasks if t.partition(":")[0] == r.task]) for split, tasks in jobs]
            records += evaluate_parallel([spec], [j for j in loo_jobs if j[1]], e.episodes, e.seed, out, **how)
    return records


def shard_dir(cfg: StudyConfig, shard) -> Path:
    return Path(cfg.out) / "eval" / "shards" / f"{shard.index}-of-{shard.count}"


def collect_shards(out: Path) -> int:
    """Append to ``OUT/episodes.jsonl`` the records evaluation shards left in ``OUT/shards/*`` (their
    parts too) that it lacks; the evaluation then runs only what no shard ran. Returns how many."""
    from physgen.evaluation.run import EPISODES, EpisodeFile, key

    dirs = sorted(Path(out).glob(f"shards/*/{EPISODES}")) + sorted(Path(out).glob(f"shards/*/parts/*/{EPISODES}"))
    if not dirs:
        return 0
    log = EpisodeFile(Path(out) / EPISODES)
    have = {key(r) for r in log.records}
    added = 0
    for path in dirs:
        for r in EpisodeFile(path).records:
            if key(r) not in have:
                log.append(r)
                have.add(key(r))
                added += 1
    return added


def rewards(cfg: StudyConfig, base: str, rows: list[Row], progress: bool) -> list[Path]:
    """``physgen train reward`` for every GRPO-trained model against its start model: the sampling
    policy's mean reward on the same held-apart scenes and sampling seeds, paired per scene."""
    from physgen.training.policy_reward import PolicyRewardConfig, compare

    if cfg.reward.scenes == 0:
        return []
    models = {"base": base, **{r.label: r.model for r in rows}}
    made = []
    for r in rows:
        if r.condition not in ("grpo", "sft_grpo"):
            continue
        path = Path(cfg.out) / "reward" / f"{r.label}.json"
        if not path.is_file():
            pc = PolicyRewardConfig(task=r.task, scenes=cfg.reward.scenes, samples=cfg.reward.samples,
                                    seed=r.seed, reward_workers=cfg.grpo.reward_workers,
                                    max_new_tokens=cfg.grpo.max_completion_length)
            start, trained = compare([models[r.start], r.model], pc, progress)
            m, lo, hi = trained.difference(start)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"row": r.label, "start": r.start, "config": to_dict(pc),
                                        "start_reward": start.to_dict(), "trained_reward": trained.to_dict(),
                                        "difference": {"mean": m, "low": lo, "high": hi}}, indent=2))
        made.append(path)
    return made


def ground_truth(cfg: StudyConfig, progress: bool) -> Path | None:
    from physgen.evaluation.ground_truth import check_agreement

    if cfg.ground_truth.towers == 0:
        return None
    path = Path(cfg.out) / "ground_truth.json"
    if not path.is_file():
        path.write_text(json.dumps(check_agreement(cfg.ground_truth.towers, cfg.seed).to_dict(), indent=2))
    return path


def probes(cfg: StudyConfig, base: str, rows: list[Row], progress: bool) -> list[Path]:
    from physgen.experiments.probe import ProbeConfig, activations, probe_scores

    first = [r for r in rows if r.seed == cfg.seeds[0]]
    models = {"base": base, **{r.label.rsplit(".", 1)[0]: r.model for r in first}}
    if cfg.probe.rows:
        models = {k: v for k, v in models.items() if k in cfg.probe.rows}
    made = []
    for name, model in models.items():
        for task in cfg.probe.tasks:
            path = Path(cfg.out) / "probes" / f"{name}_{task}.json"
            if not path.is_file():
                pc = ProbeConfig(model=model, task=task, scenes=cfg.probe.scenes, seed=cfg.seed)
                features, facts = activations(pc)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"config": to_dict(pc), "row": name, "features": list(features.shape),
                                            "scores": probe_scores(features, facts, pc)}, indent=2))
            made.append(path)
    return made


def efficiency(cfg: StudyConfig, base: str, rows: list[Row], progress: bool) -> Path | None:
    """SFT steps to criterion on ``efficiency.task`` from the base and from the first source task's
    SFT model (seed ``seeds[0]``), on the same data."""
    from physgen.experiments.efficiency import EfficiencyConfig, measure

    e = cfg.efficiency
    start = next((r for r in rows if r.condition == "sft" and r.seed == cfg.seeds[0]), None)
    if not e.task or start is None:
        return None
    path = Path(cfg.out) / "efficiency"
    if not (path / "efficiency.json").is_file():
        measure(EfficiencyConfig(task=e.task, models=(base, start.model), out=path, criterion=e.criterion,
                                 max_steps=e.max_steps, eval_every=e.eval_every, episodes=e.episodes,
                                 examples=e.examples, lora=cfg.sft.lora, learning_rate=cfg.sft.learning_rate,
                                 seed=cfg.seed), progress)
    return path / "efficiency.json"


def zero_variance_warning(rows: list[Row]) -> list[str]:
    """A warning per GRPO run in which most groups had the same reward for every completion (no
    gradient from them: the policy barely moves)."""
    warnings = []
    for r in rows:
        logfile = r.run / "log.jsonl"
        if r.condition not in ("grpo", "sft_grpo") or not logfile.is_file():
            continue
        fracs = [json.loads(ln).get("frac_reward_zero_std") for ln in logfile.read_text().splitlines() if ln]
        fracs = [f for f in fracs if f is not None]
        if fracs and sum(fracs) / len(fracs) > 0.5:
            warnings.append(f"{r.label}: {sum(fracs) / len(fracs):.0%} of GRPO groups had zero reward variance "
                            "(no learning signal from them)")
    return warnings


def summary(results: dict) -> str:
    """What a study adds below the matrix: the GRPO rows' policy reward change, warnings, stage times."""
    study = results.get("study") or {}
    lines = []
    if study.get("rewards"):
        lines.append("\nGRPO: the sampling policy's mean reward against its start model "
                     "(same scenes and samples, paired):")
        for d in study["rewards"]:
            diff, c = d["difference"], d["config"]
            lines.append(f"  {d['row']:<28} {d['start_reward']['mean_reward']:+.3f} -> "
                         f"{d['trained_reward']['mean_reward']:+.3f}  change {diff['mean']:+.3f} "
                         f"[{diff['low']:+.3f}, {diff['high']:+.3f}]  ({c['scenes']} scenes x {c['samples']} answers)")
    gt = study.get("ground_truth")
    if gt:
        lines.append(f"\nGround truth: the simulation agrees with the centre-of-mass rule on "
                     f"{gt['agreement_non_marginal']:.1%} of {gt['towers'] - gt['marginal']} non-marginal towers.")
    for w in study.get("warnings", []):
        lines.append(f"warning: {w}")
    if study.get("stages_s"):
        lines.append("\nStage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in study["stages_s"].items()))
    return "\n".join(lines)


def evaluate_shard(cfg: StudyConfig, shard, progress: bool = True) -> Path:
    """Only the evaluation shard ``shard`` of a study whose training is done, into its own directory
    (:func:`shard_dir`); the study run without a shard afterwards takes its episodes in."""
    needs(cfg)
    base = base_model(cfg, progress, train=False)
    rows = train_conditions(cfg, base, progress, train=False)
    evaluate(cfg, base, rows, progress, shard)
    return shard_dir(cfg, shard)


def run_study(cfg: StudyConfig, progress: bool = True):
    """Every stage, skipping what is done; returns (results.json content, matrix)."""
    from physgen.evaluation.results import build as build_report

    needs(cfg)
    out = writable_dir("out", cfg.out, 512 * 2**20)  # models, checkpoints, bags
    (out / "physgen_study.json").write_text(json.dumps(to_dict(cfg), indent=2))
    stages = Stages(out)
    base = stages.run("pretrain", base_model, cfg, progress)
    rows = train_conditions(cfg, base, progress, stages)
    warnings = zero_variance_warning(rows)
    for w in warnings:
        log.warning(w)
    stages.run("evaluate", evaluate, cfg, base, rows, progress)
    reward_files = stages.run("reward", rewards, cfg, base, rows, progress)
    gt = stages.run("ground_truth", ground_truth, cfg, progress)
    probe_files = stages.run("probes", probes, cfg, base, rows, progress)
    eff = stages.run("efficiency", efficiency, cfg, base, rows, progress)
    train_dirs = ([out / "pretrain"] if cfg.pretrain.steps else []) + [r.run for r in rows]
    study = {"config": to_dict(cfg), "rows": [to_dict(r) for r in rows],
             "stages_s": stages.times, "warnings": warnings,
             "rewards": [json.loads(p.read_text()) for p in reward_files],
             "ground_truth": json.loads(gt.read_text()) if gt else None}
    return stages.run("report", lambda: build_report(
        out / "eval", "base", train_dirs, eff, probe_files, True, alpha=cfg.eval.alpha,
        format_threshold=cfg.eval.format_threshold, references=REFERENCES, study=study))
