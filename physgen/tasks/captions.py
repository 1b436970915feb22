"""Generic visual pre-training data: count the blocks, name their colours, say which is left of which.

Same cell, same visuals as the task suite, no physics content (blocks stand apart on the table, never
stacked), answers in the suite's formats (a word, yes/no, left/right, an integer) so a pre-trained
model knows how to answer before it has seen any physics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physgen.cell.scene import BlockSpec, SceneSpec
from physgen.tasks import load_task
from physgen.tasks.base import stable_hash
from physgen.tasks.towers import TOWER_X, cube, pick_colours

CAPTIONS = "captions"  # the name training data and commands use for this source


@dataclass(frozen=True)
class Caption:
    scene: SceneSpec
    prompt: str
    answer: str
    kind: str


def caption(seed: int) -> Caption:
    """The caption example for ``seed``: a scene of 1-4 separate blocks and one question about it."""
    rng = np.random.default_rng([seed, stable_hash("captions")])
    space = load_task("stability").variants
    variant = space.draw(rng, "train")
    n = int(rng.integers(1, 5))
    colours = pick_colours(rng, variant, n)
    size = cube(variant)
    ys = _apart(rng, n, size[1])
    blocks = [BlockSpec(c, size, (TOWER_X, float(y), size[2] / 2), c) for c, y in zip(colours, ys)]
    scene = SceneSpec(tuple(blocks), space.appearance(variant), focus=(TOWER_X, 0.0, 0.06))
    by_y = [b.name for b in sorted(blocks, key=lambda b: b.position[1])]  # image left to right
    kinds = ["count", "leftmost", "rightmost"] + (["left_of", "which_side"] if n >= 2 else [])
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "count":
        prompt, answer = "How many blocks are on the table? Answer with one integer.", str(n)
    elif kind == "leftmost":
        prompt, answer = "What colour is the leftmost block in the image? Answer with one word.", by_y[0]
    elif kind == "rightmost":
        prompt, answer = "What colour is the rightmost block in the image? Answer with one word.", by_y[-1]
    else:
        a, b = (str(c) for c in rng.choice(colours, 2, replace=False))
        a_left = by_y.index(a) < by_y.index(b)
        if kind == "left_of":
            prompt = f"Is the {a} block to the left of the {b} block in the image? Answer with one word: yes or no."
            answer = "yes" if a_left else "no"
        else:
            prompt = (f"Is the {a} block on the left or on the right of the {b} block in the image? "
                      "Answer with one word: left or right.")
            answer = "left" if a_left else "right"
    return Caption(scene, prompt, answer, kind)


def caption_texts(seeds: range) -> list[str]:
    """Prompts and answers of the caption examples, for tokenizer training."""
    out = []
    for s in seeds:
        c = caption(s)
        out += [c.prompt, c.answer]
    return out


def _apart(rng: np.random.Generator, n: int, width: float, span: float = 0.14, gap: float = 0.02) -> list[float]:
    for _ in range(10000):
        ys = np.sort(rng.uniform(-span, span, n))
        if n == 1 or np.min(np.diff(ys)) >= width + gap:
            return rng.permutation(ys).tolist()
    raise RuntimeError(f"cannot place {n} blocks apart")
