"""Training datasets, stored as Hugging Face ``datasets`` on disk so a run can be repeated exactly.

Rows are (image, prompt, answer) with their provenance. Task rows come from expert episodes: the
frame the model would see, the task's prompt, and the oracle's best answer rendered by the one codec.
Caption rows are the generic visual pre-training data of :mod:`physgen.training.captions`.
Training data never contains a held-out variant.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from physgen.cell.cell import RobotCell
from physgen.cell.config import CellConfig
from physgen.config import ConfigError
from physgen.evaluation.episode import begin
from physgen.policy.codec import parse, render
from physgen.tasks import load_task, task_names
from physgen.tasks.captions import CAPTIONS, caption
from physgen.tasks.oracle import Oracles

DATASET_VERSION = 1


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
    try:
        with RobotCell(cell_config) as cell:
            for seed in seeds:
                out.append(_row(cell, oracles, source, seed, answers))
                if progress is not None:
                    progress(1)
    finally:
        oracles.close()
    return out


def _row(cell: RobotCell, oracles: Oracles, source: str, seed: int, answers: bool = True) -> dict:
    from PIL import Image

    if source == CAPTIONS:
        c = caption(seed)
        cell.load(c.scene)
        return {"image": Image.fromarray(cell.render()), "prompt": c.prompt, "answer": c.answer,
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
        out_dir = Path(out_dir)
        ds.save_to_disk(str(out_dir))
        manifest = {"version": DATASET_VERSION, "sources": sources, "seeds": [min(seeds), max(seeds)],
                    "n": len(ds), "split": "train"}
        (out_dir / "physgen_dataset.json").write_text(json.dumps(manifest, indent=2))
    return ds


def load(path: Path):
    from datasets import load_from_disk

    return load_from_disk(str(path))
