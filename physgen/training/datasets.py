"""Training datasets, stored as Hugging Face ``datasets`` on disk so a run can be repeated exactly.

Rows are (image, prompt, answer) with their provenance. Task rows come from expert episodes: the
frame the model would see, the task's prompt, and the oracle's best answer rendered by the one codec.
Caption rows are the generic visual pre-training data of :mod:`physgen.tasks.captions` (consecutive
caption seeds share a scene, rendered once). A training run's rows are its task's plus, with
``rehearsal`` > 0, that fraction of caption rows (:func:`training_rows`); parts can be shared between
runs through a cache directory (:func:`cached`). Training data never contains a held-out variant.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from physgen.cell.cell import RobotCell
from physgen.cell.config import CellConfig
from physgen.config import ConfigError
from physgen.evaluation.episode import begin
from physgen.tasks import load_task, task_names
from physgen.tasks.captions import CAPTIONS, PER_SCENE, caption
from physgen.tasks.codec import parse, render
from physgen.tasks.oracle import Oracles

DATASET_VERSION = 2  # 2: captions in every answer format, several questions per scene


def _features():
    from datasets import Features, Image, Value

    return Features({"image": Image(), "prompt": Value("string"), "answer": Value("string"),
                     "source": Value("string"), "seed": Value("int64"), "variant": Value("string")})


def rows(source: str, seeds: list[int], cell_config: CellConfig | None = None,
         progress: Callable[[int], None] | None = None, answers: bool = True) -> list[dict]:
    """Dataset rows for ``source`` (a task name or ``captions``) over ``seeds``, train split only.
    Without ``answers`` the oracle is not asked (RL prompts need none) and ``answer`` is empty."""
    if source != CAPTIONS and source not in task_names():
        raise ConfigError("source", source, f"'{CAPTIONS}' or a task from {task_names()}")
    out = []
    oracles = Oracles(cell_config.physics if cell_config else None)
    frames: dict = {}  # caption scene -> its frame (consecutive caption seeds share a scene)
    try:
        with RobotCell(cell_config) as cell:
            for seed in seeds:
                out.append(_row(cell, oracles, source, seed, answers, frames))
                if progress is not None:
                    progress(1)
    finally:
        oracles.close()
    return out


def _row(cell: RobotCell, oracles: Oracles, source: str, seed: int, answers: bool = True,
         frames: dict | None = None) -> dict:
    from PIL import Image

    if source == CAPTIONS:
        c = caption(seed)
        frames = {} if frames is None else frames
        if seed // PER_SCENE not in frames:
            frames.clear()
            cell.load(c.scene)
            frames[seed // PER_SCENE] = Image.fromarray(cell.render())
        return {"image": frames[seed // PER_SCENE], "prompt": c.prompt, "answer": c.answer,
                "source": source, "seed": seed, "variant": json.dumps({"kind": c.kind})}
    task = load_task(source)
    inst, image = begin(cell, task, seed, "train")
    if inst.variant.get("heldout_factor") is not None:
        raise AssertionError(f"held-out variant in training data: {source} seed {seed}")
    answer = render(oracles.get(task, inst).best, task.answer_format) if answers else ""
    if answers and not parse(answer, task.answer_format).ok:  # the codec must read back what it wrote
        raise AssertionError(f"codec cannot parse its own answer {answer!r} for {source}")
    return {"image": Image.fromarray(image), "prompt": inst.prompt, "answer": answer, "source": source,
            "seed": seed, "variant": json.dumps(inst.variant, default=list)}


def default_workers() -> int:
    """Processes that build a dataset: the cores, at most 4 (rows are the same for any number)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _rows_of(job: tuple) -> list[dict]:
    return rows(*job)


def rows_in_processes(source: str, seeds: list[int], cell_config: CellConfig | None = None,
                      progress: Callable[[int], None] | None = None, answers: bool = True, workers: int = 1,
                      chunk: int = 64) -> list[dict]:
    """:func:`rows`, the seeds cut into chunks that ``workers`` processes (spawned, each with its own
    cell and oracle) render in parallel; the same rows in the same order as one process gives."""
    if workers <= 1 or len(seeds) <= chunk:
        return rows(source, seeds, cell_config, progress, answers)
    import multiprocessing

    jobs = [(source, seeds[i:i + chunk], cell_config, None, answers) for i in range(0, len(seeds), chunk)]
    out: list[dict] = []
    with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
        for part in pool.imap(_rows_of, jobs):  # in order
            out += part
            if progress is not None:
                progress(len(part))
    return out


def build(sources: list[str], seeds: list[int], out_dir: Path | None = None,
          cell_config: CellConfig | None = None, progress: Callable[[int], None] | None = None,
          answers: bool = True, workers: int | None = None):
    """A ``datasets.Dataset`` of every source over ``seeds``, built by ``workers`` processes
    (default :func:`default_workers`); saved to ``out_dir`` when given."""
    from datasets import Dataset

    workers = default_workers() if workers is None else workers
    data = [r for s in sources for r in rows_in_processes(s, seeds, cell_config, progress, answers, workers)]
    ds = Dataset.from_list(data, features=_features())
    if out_dir is not None:
        _save(ds, Path(out_dir), sources, seeds)
    return ds


def _save(ds, out_dir: Path, sources: list[str], seeds: list[int]) -> None:
    ds.save_to_disk(str(out_dir))
    manifest = {"version": DATASET_VERSION, "sources": sources, "seeds": [min(seeds), max(seeds)],
                "n": len(ds), "split": "train"}
    (out_dir / "physgen_dataset.json").write_text(json.dumps(manifest, indent=2))


def load(path: Path):
    from datasets import load_from_disk

    return load_from_disk(str(path))


def rehearsal_rows(examples: int, rehearsal: float) -> int:
    """Caption rows mixed into ``examples`` task rows so that they are a ``rehearsal`` fraction of all."""
    return int(round(examples * rehearsal / (1.0 - rehearsal))) if rehearsal > 0 else 0


def cached(source: str, seeds: list[int], cache: Path, answers: bool = True,
           progress: Callable[[int], None] | None = None):
    """The rows of ``source`` over ``seeds`` from ``cache`` (built and saved there on first use), so runs
    that train on the same scenes (seeds of a condition, SFT and GRPO) render them once."""
    path = Path(cache) / f"{source}-{min(seeds)}-{len(seeds)}{'' if answers else '-prompts'}-v{DATASET_VERSION}"
    if (path / "physgen_dataset.json").is_file():
        ds = load(path)
        if progress is not None:
            progress(len(ds))
        return ds
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    ds = build([source], seeds, tmp, progress=progress, answers=answers)
    try:
        tmp.rename(path)
    except OSError:  # another process saved the same rows first
        shutil.rmtree(tmp, ignore_errors=True)
    return load(path)


def training_rows(source: str, seeds: list[int], rehearsal: float = 0.0, out_dir: Path | None = None,
                  cache: Path | None = None, answers: bool = True, progress: Callable[[int], None] | None = None):
    """A run's rows: ``source`` over ``seeds`` (several sources joined by ``+``: each over the same
    seeds, multi-task training) and, with ``rehearsal`` > 0, caption rows (the pre-training questions,
    caption seeds ``seeds[0] + i``) making up that fraction of the whole; through ``cache`` when given;
    saved to ``out_dir`` when given."""
    from datasets import concatenate_datasets

    sources = source.split("+")
    parts = [(s, seeds, answers) for s in sources]
    n = rehearsal_rows(len(seeds) * len(sources), rehearsal)
    if n:
        parts.append((CAPTIONS, [seeds[0] + i for i in range(n)], True))
    if cache is not None:
        done = [cached(s, ss, cache, a, progress) for s, ss, a in parts]
    else:
        done = [build([s], ss, None, progress=progress, answers=a) for s, ss, a in parts]
    ds = done[0] if len(done) == 1 else concatenate_datasets(done)
    if out_dir is not None:
        _save(ds, Path(out_dir), [s for s, _, _ in parts], seeds)
    return ds


def run_rows(cfg, answers: bool = True, progress: Callable[[int], None] | None = None):
    """A training run's rows (``cfg``: an SFT or GRPO run config): ``OUT/dataset`` when it was saved,
    else built (through ``cfg.dataset_cache`` when set) and saved there."""
    path = Path(cfg.out) / "dataset"
    if (path / "physgen_dataset.json").is_file():
        return load(path)
    cache = Path(cfg.dataset_cache) if cfg.dataset_cache else None
    return training_rows(cfg.task, cfg.dataset_seeds, cfg.rehearsal, path, cache, answers, progress)
