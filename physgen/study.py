"""``physgen study --config FILE``: the whole protocol from one YAML file, skipping what is done.

1. the base model: a recipe built locally, then (``pretrain.steps`` > 0) generic visual pre-training
   on captions, or a model directory as it is;
2. for each source task: SFT from the base (``sft``), then GRPO from the SFT model (``grpo``);
3. evaluation of base, SFT and GRPO per source task, expert and chance on every eval task and split
   (matched seeds; in-process or over the ROS graph, optionally recorded to bags);
4. probes of every model on the probe tasks;
5. the report (``physgen report``) with the training curves and probes.

Everything lands under ``out``: ``pretrain/``, ``sft_<task>/``, ``grpo_<task>/``, ``eval/`` (episodes,
matrix, report), ``bags/``, ``probes/``. A stage whose result exists is skipped (a training run with
``model/``, a probe file); a stopped training run or evaluation resumes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from physgen.config import build, in_range, load_yaml, one_of, require, to_dict
from physgen.preflight import writable_dir


class _Stage:
    """A training stage: ``steps`` 0 skips it."""

    steps: int

    def __post_init__(self) -> None:
        in_range("steps", self.steps, 0, 10_000_000)


@dataclass(frozen=True)
class PretrainStage(_Stage):
    steps: int = 600  # 0: the model is used as it is
    examples: int = 1024
    learning_rate: float = 3e-4


@dataclass(frozen=True)
class SFTStage(_Stage):
    steps: int = 400  # 0: no SFT rows
    examples: int = 1024
    lora: bool = False
    learning_rate: float = 3e-4


@dataclass(frozen=True)
class GRPOStage(_Stage):
    steps: int = 100  # 0: no GRPO rows
    examples: int = 256  # prompts
    mode: str = "one-step"
    lora: bool = False
    learning_rate: float = 1e-4
    beta: float = 0.04
    num_generations: int = 16
    max_completion_length: int = 4
    reward_workers: int = 1


@dataclass(frozen=True)
class EvalStage:
    tasks: tuple[str, ...] = ()  # empty: every task
    episodes: int = 10
    source_episodes: int = 0  # episodes on the source tasks (0: as episodes); more there makes the diagonal sharp
    splits: tuple[str, ...] = ("train", "heldout")
    seed: int = 0
    via: str = "inprocess"  # or ros: the evaluation graph, pip-only bringup
    record: bool = False  # via ros: every policy's episodes also to a bag in out/bags/
    workers: int = 1  # via ros: graphs at once, each in its own process and ROS domain

    def __post_init__(self) -> None:
        in_range("episodes", self.episodes, 1, 1_000_000)
        in_range("source_episodes", self.source_episodes, 0, 1_000_000)
        in_range("workers", self.workers, 1, 64)
        one_of("via", self.via, ("inprocess", "ros"))
        for s in self.splits:
            one_of("splits", s, ("train", "heldout"))
        require(not self.record or self.via == "ros", "record", self.record, "false unless via is ros")


@dataclass(frozen=True)
class ProbeStage:
    tasks: tuple[str, ...] = ()  # empty: no probes
    scenes: int = 100


@dataclass(frozen=True)
class StudyConfig:
    out: Path
    model: str = "tiny-qwen2-vl"  # a recipe (built locally) or a model directory
    source_tasks: tuple[str, ...] = ("fall_direction",)
    seed: int = 0
    pretrain: PretrainStage = field(default_factory=PretrainStage)
    sft: SFTStage = field(default_factory=SFTStage)
    grpo: GRPOStage = field(default_factory=GRPOStage)
    eval: EvalStage = field(default_factory=EvalStage)
    probe: ProbeStage = field(default_factory=ProbeStage)

    def __post_init__(self) -> None:
        from physgen.tasks import task_names

        names = tuple(task_names())
        require(len(self.source_tasks) > 0 or self.sft.steps == 0, "source_tasks", self.source_tasks,
                "one or more tasks")
        for t in (*self.source_tasks, *self.eval.tasks, *self.probe.tasks):
            one_of("task", t, names)
        require(self.grpo.steps == 0 or self.sft.steps > 0, "grpo.steps", self.grpo.steps,
                "0 unless sft.steps > 0 (GRPO starts from the SFT model)")

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


def base_model(cfg: StudyConfig, progress: bool) -> str:
    from physgen.policy.recipes import resolve_model
    from physgen.tasks.captions import CAPTIONS
    from physgen.training.sft import train_sft
    from physgen.training.sft_config import SFTRunConfig

    if cfg.pretrain.steps == 0:
        return str(resolve_model(cfg.model))
    run = Path(cfg.out) / "pretrain"
    if not _done(run):
        p = cfg.pretrain
        train_sft(SFTRunConfig(task=CAPTIONS, model=cfg.model, out=run, steps=p.steps, seed=cfg.seed,
                               examples=p.examples, lora=False, learning_rate=p.learning_rate, sample_answers=0),
                  progress)
    return str(run / "model")


def train_conditions(cfg: StudyConfig, base: str, progress: bool) -> dict[str, str]:
    """{row label: model directory}: base, then sft_<task> and grpo_<task> for each source task."""
    from physgen.training.grpo import train_grpo
    from physgen.training.grpo_config import GRPORunConfig
    from physgen.training.sft import train_sft
    from physgen.training.sft_config import SFTRunConfig

    out = Path(cfg.out)
    rows = {"base": base}
    for task in cfg.source_tasks if cfg.sft.steps else ():
        sft = out / f"sft_{task}"
        if not _done(sft):
            s = cfg.sft
            train_sft(SFTRunConfig(task=task, model=base, out=sft, steps=s.steps, seed=cfg.seed, examples=s.examples,
                                   lora=s.lora, learning_rate=s.learning_rate, sample_answers=0), progress)
        rows[f"sft_{task}"] = str(sft / "model")
        if cfg.grpo.steps:
            grpo = out / f"grpo_{task}"
            if not _done(grpo):
                g = cfg.grpo
                train_grpo(GRPORunConfig(task=task, model=str(sft / "model"), out=grpo, steps=g.steps,
                                         seed=cfg.seed, examples=g.examples, mode=g.mode, lora=g.lora,
                                         learning_rate=g.learning_rate, beta=g.beta, num_generations=g.num_generations,
                                         max_completion_length=g.max_completion_length,
                                         reward_workers=g.reward_workers), progress)
            rows[f"grpo_{task}"] = str(grpo / "model")
    return rows


def evaluate(cfg: StudyConfig, rows: dict[str, str], progress: bool) -> list[dict]:
    from physgen.evaluation.run import PolicySpec, evaluate_resumable
    from physgen.tasks import task_names

    e = cfg.eval
    specs = [PolicySpec(label, "vlm", model) for label, model in rows.items()]
    specs += [PolicySpec("expert", "expert"), PolicySpec("chance", "chance")]
    tasks = [f"{t}:{e.source_episodes}" if t in cfg.source_tasks and e.source_episodes else t
             for t in (e.tasks or task_names())]
    out = Path(cfg.out) / "eval"
    if e.via == "ros":
        from physgen_nodes.eval_graph import evaluate_over_ros

        bags = Path(cfg.out) / "bags" if e.record else None
        return evaluate_over_ros(specs, tasks, e.episodes, e.seed, list(e.splits), out, bags, e.workers)
    records = []
    for split in e.splits:
        records += evaluate_resumable(specs, tasks, e.episodes, e.seed, split, out)
    return records


def probes(cfg: StudyConfig, rows: dict[str, str], progress: bool) -> list[Path]:
    from physgen.evaluation.probe import ProbeConfig, activations, probe_scores

    made = []
    for label, model in rows.items():
        for task in cfg.probe.tasks:
            path = Path(cfg.out) / "probes" / f"{label}_{task}.json"
            if not path.is_file():
                pc = ProbeConfig(model=model, task=task, scenes=cfg.probe.scenes, seed=cfg.seed)
                features, facts = activations(pc)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"config": to_dict(pc), "features": list(features.shape),
                                            "scores": probe_scores(features, facts, pc)}, indent=2))
            made.append(path)
    return made


def run_study(cfg: StudyConfig, progress: bool = True):
    """Every stage, skipping what is done; returns (results.json content, matrix)."""
    from physgen.evaluation.results import build as build_report

    needs(cfg)
    out = writable_dir("out", cfg.out, 512 * 2**20)  # models, checkpoints, bags
    (out / "physgen_study.json").write_text(json.dumps(to_dict(cfg), indent=2))
    base = base_model(cfg, progress)
    rows = train_conditions(cfg, base, progress)
    evaluate(cfg, rows, progress)
    probe_files = probes(cfg, rows, progress)
    train_dirs = [out / label for label in rows if label != "base"]
    if cfg.pretrain.steps:
        train_dirs.insert(0, out / "pretrain")
    return build_report(out / "eval", "base", train_dirs, None, probe_files)
