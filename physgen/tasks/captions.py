"""Generic visual pre-training data: physics-free questions about the suite's own scenes, asked in
every answer format the suite uses.

A caption scene is either 1-4 separate blocks on the table or a task's scene (any task's sampler,
train split, seeds far from training and evaluation), introduced as that task introduces it (its
prompt's sentences before the question). Its questions are about counts, colours, sizes and heights
in cm, and which side and how far apart blocks are, with the tasks' own instructions: yes/no,
left/right, one integer in a task's range, two integers, a colour. They never ask about stability,
falling, support or overhang. Lateral questions (which side, how far)
only compare blocks whose footprints do not overlap, so no answer reads off how a stacked block is
offset over the one below it: that geometry is what the physics tasks are about.

Every caption seed is one question: scene ``seed // PER_SCENE``, question ``seed % PER_SCENE`` of
that scene's seeded draw, so consecutive seeds share a rendered frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from physgen.cell.scene import BlockSpec, SceneSpec
from physgen.tasks import load_task, task_names
from physgen.tasks.codec import AnswerFormat, render
from physgen.tasks.towers import TOWER_X, cube, pick_colours
from physgen.types import stable_hash

CAPTIONS = "captions"  # the name training data and commands use for this source
PER_SCENE = 6  # questions per rendered scene
TASK_SCENE_SEED = 10_000_000  # task scenes for captions: far from evaluation (small) and training (100000+) seeds

YES_NO = AnswerFormat("choice", ("yes", "no"))
SIDES = AnswerFormat("choice", ("left", "right"))
COUNT = AnswerFormat("int", low=0, high=12)
SIZE = AnswerFormat("int", low=0, high=12)
OFFSET = AnswerFormat("int", low=-10, high=10)
PAIR = AnswerFormat("int", count=2, low=-20, high=40)


def colour_format() -> AnswerFormat:
    return load_task("remove").answer_format  # the colour names the suite answers with


@dataclass(frozen=True)
class Caption:
    scene: SceneSpec
    prompt: str  # the scene's introduction, then the question
    answer: str  # canonical text, as the codec renders it
    kind: str
    format: AnswerFormat
    question: str = ""  # the prompt without the introduction


@dataclass(frozen=True)
class _Question:
    kind: str
    prompt: str
    answer: object
    format: AnswerFormat
    intro: str = ""


def caption(seed: int) -> Caption:
    """The caption example for ``seed``: question ``seed % PER_SCENE`` about scene ``seed // PER_SCENE``."""
    scene, questions = scene_questions(seed // PER_SCENE)
    q = questions[seed % PER_SCENE]
    answer = q.answer if q.format.kind == "choice" or isinstance(q.answer, tuple) else (q.answer,)
    return Caption(scene, q.prompt, render(answer, q.format), q.kind, q.format, q.prompt[len(q.intro):])


def scene_questions(scene_seed: int) -> tuple[SceneSpec, list[_Question]]:
    """A caption scene and ``PER_SCENE`` of its questions: answer formats in turn from those the scene
    allows (the ones only some scenes allow first, so every format is common), then a question of that
    format."""
    rng = np.random.default_rng([scene_seed, stable_hash("captions")])
    scene, intro = _apart_scene(rng) if rng.random() < 0.4 else _task_scene(rng, scene_seed)
    asked = _questions(rng, list(scene.blocks), intro)
    formats = list(dict.fromkeys(q.format for q in asked))
    rare = [f for f in (OFFSET, SIDES) if f in formats]  # only some scenes allow these: asked first there
    rest = [f for f in formats if f not in rare]
    order = rare + [rest[i] for i in rng.permutation(len(rest))]
    picked = []
    for i in range(PER_SCENE):
        fmt = order[i % len(order)]
        pool = [q for q in asked if q.format == fmt and q not in picked] or [q for q in asked if q.format == fmt]
        picked.append(pool[int(rng.integers(len(pool)))])
    return scene, picked


def _apart_scene(rng: np.random.Generator) -> tuple[SceneSpec, str]:
    space = load_task("stability").variants
    variant = space.draw(rng, "train")
    n = int(rng.integers(1, 5))
    colours = pick_colours(rng, variant, n)
    size = cube(variant)
    ys = _apart(rng, n, size[1])
    blocks = [BlockSpec(c, size, (TOWER_X, float(y), size[2] / 2), c) for c, y in zip(colours, ys)]
    intro = "The image shows blocks standing apart on a table. "
    return SceneSpec(tuple(blocks), space.appearance(variant), focus=(TOWER_X, 0.0, 0.06)), intro


def _task_scene(rng: np.random.Generator, scene_seed: int) -> tuple[SceneSpec, str]:
    """A task's scene, introduced as the task introduces it (:func:`task_context`); half of them with
    one more block standing apart beside the tower, named in the introduction (so that questions
    comparing sides are asked about scenes of every task)."""
    names = task_names()
    task = load_task(names[int(rng.integers(len(names)))])
    inst = task.sample(TASK_SCENE_SEED + scene_seed, "train")
    scene, intro = inst.scene, task_context(inst.prompt)
    free = [c for c in colour_format().choices if c not in {b.colour for b in scene.blocks}]
    if rng.random() < 0.5 and free:
        size, colour = scene.blocks[0].size, str(rng.choice(free))
        for _ in range(20):
            y = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.09, 0.15))
            extra = BlockSpec(f"apart_{colour}", size, (TOWER_X, y, size[2] / 2), colour)
            if all(_apart_from(extra, b, 0.02) for b in scene.blocks):
                intro += f"{'An' if colour[0] in 'aeiou' else 'A'} {colour} block stands apart on the table. "
                return replace(scene, blocks=(*scene.blocks, extra)), intro
    return scene, intro


def task_context(prompt: str) -> str:
    """A task prompt's sentences before its question: what the image shows and what the robot may do
    (so that a caption question reads like the task's, and only the question and its instruction
    differ)."""
    out = []
    for sentence in re.split(r"(?<=[.?])\s+", prompt.strip()):
        if "?" in sentence:
            break
        out.append(sentence)
    return " ".join(out) + " "


def _cm(metres: float) -> int:
    return int(round(metres * 100))


def _apart_from(a: BlockSpec, b: BlockSpec, gap: float = 0.01) -> bool:
    """The footprints of ``a`` and ``b`` along the image's horizontal axis are at least ``gap`` apart."""
    return abs(a.position[1] - b.position[1]) >= (a.size[1] + b.size[1]) / 2 + gap


# The tasks' own instructions, one per answer format (sim/tasks and physgen/tasks/*.py word them so).
YES_NO_TAIL = "Answer with one word: yes or no."
SIDES_TAIL = "Answer with one word: left or right."
COLOUR_TAIL = "Answer with the block's colour, one word."
OFFSET_TAIL = "Use a negative number for left. Answer with one integer from -10 to 10."
SIZE_TAILS = ("Answer with one integer from 0 to 12.", "Give it as one integer from 0 to 12.")


def _questions(rng: np.random.Generator, blocks: list[BlockSpec], intro: str) -> list[_Question]:
    """Every physics-free question this scene allows."""
    def size_tail() -> str:
        return SIZE_TAILS[int(rng.integers(len(SIZE_TAILS)))]

    out = [_Question("count", intro + "How many blocks are there in the image, counting planks as blocks? "
                     + size_tail(), len(blocks), COUNT)]
    colours = colour_format()
    by_y = sorted(blocks, key=lambda b: b.position[1])  # image left to right
    for kind, b, rest in (("leftmost", by_y[0], by_y[1:]), ("rightmost", by_y[-1], by_y[:-1])):
        if all(_apart_from(b, o) for o in rest) and b.colour in colours.choices:
            out.append(_Question(kind, intro + f"What colour is the {kind} block in the image? " + COLOUR_TAIL,
                                 b.colour, colours))
    towers = sorted((t for t in _stacks(blocks) if len(t) > 1), key=lambda t: t[0].position[1])
    named = [("", t) for t in towers] if len(towers) == 1 else [
        ("leftmost ", towers[0]), ("rightmost ", towers[-1])] if towers else []
    if len(towers) > 2:
        named.append(("middle ", towers[1]))
    for where, tower in named:
        for end, b in (("top", tower[-1]), ("bottom", tower[0])):
            if b.colour in colours.choices:
                out.append(_Question(f"{end}_of_tower", intro + f"What colour is the {end} block of the {where}"
                                     "tower? " + COLOUR_TAIL, b.colour, colours))
                out.append(_Question(f"which_{end}", intro + f"Which block is at the {end} of the {where}tower? "
                                     + COLOUR_TAIL, b.colour, colours))
    if towers:
        bottom = towers[0][0]
        away = [b for b in blocks if _apart_from(b, bottom)]
        if away:
            b = away[int(rng.integers(len(away)))]
            where = (_cm(b.position[1] - bottom.position[1]), _cm(b.position[2] - b.size[2] / 2))
            if all(PAIR.low <= v <= PAIR.high for v in where):
                out.append(_Question("position_height", intro + f"Where is the {b.colour} block? Answer with two "
                                     "integers in centimetres: first how far right of the bottom block's centre its "
                                     "centre is (negative for left), then how high above the table its bottom is.",
                                     where, PAIR))
                out += out[-1:] * 2  # worded as placement's instruction: drawn three times as often
    tops = sorted(blocks, key=lambda b: b.position[2] + b.size[2] / 2)
    top = tops[-1]
    top_cm = _cm(top.position[2] + top.size[2] / 2)
    if len(blocks) > 1 and top.position[2] - tops[-2].position[2] > 0.01 and top.colour in colours.choices:
        out.append(_Question("highest", intro + "What colour is the highest block in the image? " + COLOUR_TAIL,
                             top.colour, colours))
    if top_cm <= PAIR.high:
        out.append(_Question("count_height", intro + "Answer with two integers: first how many blocks there "
                             "are, then how high above the table the top of the highest block is, in centimetres.",
                             (len(blocks), top_cm), PAIR))
    b = blocks[int(rng.integers(len(blocks)))]
    out.append(_Question("size", intro + f"How many centimetres tall is the {b.colour} block? " + size_tail(),
                         _cm(b.size[2]), SIZE))
    b = blocks[int(rng.integers(len(blocks)))]
    if _cm(b.size[1]) <= SIZE.high:
        out.append(_Question("width", intro + f"How many centimetres wide is the {b.colour} block, from its left "
                             "edge to its right edge in the image? " + size_tail(), _cm(b.size[1]), SIZE))
    shown = [b.colour for b in blocks]
    absent = [c for c in colours.choices if c not in shown]
    asked = str(rng.choice(absent)) if absent and rng.random() < 0.5 else str(rng.choice(shown))
    out.append(_Question("present", intro + f"Is there a {asked} block in the image? " + YES_NO_TAIL,
                         "yes" if asked in shown else "no", YES_NO))
    levels = [(a, c) for a in blocks for c in blocks if abs(a.position[2] - c.position[2]) > 0.01]
    if levels:
        a, c = levels[int(rng.integers(len(levels)))]
        out.append(_Question("higher", intro + f"Is the {a.colour} block higher than the {c.colour} block? "
                             + YES_NO_TAIL, "yes" if a.position[2] > c.position[2] else "no", YES_NO))
    pairs = [(a, c) for a in blocks for c in blocks if a is not c and _apart_from(a, c)]
    if pairs:
        a, c = pairs[int(rng.integers(len(pairs)))]
        a_left = a.position[1] < c.position[1]
        out.append(_Question("left_of", intro + f"Is the {a.colour} block to the left of the {c.colour} block "
                             "in the image? " + YES_NO_TAIL, "yes" if a_left else "no", YES_NO))
        out.append(_Question("which_side", intro + f"Is the {a.colour} block on the left or on the right of "
                             f"the {c.colour} block in the image? " + SIDES_TAIL, "left" if a_left else "right", SIDES))
        out.append(_Question("which_way", intro + f"Which way from the {c.colour} block is the {a.colour} block, as "
                             "seen in the image? " + SIDES_TAIL, "left" if a_left else "right", SIDES))
    right_of = [(a, c, _cm(c.position[1] - a.position[1])) for a, c in pairs]  # how far right of a's centre c's is
    near = [p for p in right_of if OFFSET.low <= p[2] <= OFFSET.high]
    if near:
        a, c, d = near[int(rng.integers(len(near)))]
        out.append(_Question("offset", intro + f"By how many centimetres is the centre of the {c.colour} block "
                             f"to the right of the centre of the {a.colour} block? " + OFFSET_TAIL, d, OFFSET))
    ahead = [p for p in right_of if SIZE.low <= p[2] <= SIZE.high]
    if ahead:
        a, c, d = ahead[int(rng.integers(len(ahead)))]
        out.append(_Question("how_far", intro + f"How far, in whole centimetres, is the centre of the {c.colour} "
                             f"block to the right of the centre of the {a.colour} block? " + SIZE_TAILS[1], d, SIZE))
    fits = [p for p in right_of if PAIR.low <= p[2] <= PAIR.high]
    if fits:
        a, c, d = fits[int(rng.integers(len(fits)))]
        out.append(_Question("offset_size", intro + "Answer with two integers in centimetres: first how far "
                             f"right of the {a.colour} block's centre the {c.colour} block's centre is (negative for "
                             f"left), then how tall the {c.colour} block is.", (d, _cm(c.size[2])), PAIR))
    return [replace(q, intro=intro) for q in out]


def _stacks(blocks: list[BlockSpec]) -> list[list[BlockSpec]]:
    """The blocks grouped into stacks (footprints overlapping along the image's horizontal axis), each
    bottom to top."""
    groups: list[list[BlockSpec]] = []
    for b in sorted(blocks, key=lambda b: b.position[2]):
        home = next((g for g in groups if any(not _apart_from(b, o, 0.0) for o in g)), None)
        if home is None:
            groups.append([b])
        else:
            home.append(b)
    return groups


def caption_texts(seeds: range) -> list[str]:
    """Prompts and answers of the caption examples, for tokenizer training."""
    out = []
    for s in seeds:
        c = caption(s)
        out += [c.prompt, c.answer]
    return out


def caption_formats() -> dict[str, AnswerFormat]:
    """Every answer format captions use, by name (for checks that they cover the suite's)."""
    return {"yes_no": YES_NO, "sides": SIDES, "count": COUNT, "size": SIZE, "offset": OFFSET, "pair": PAIR,
            "colour": colour_format()}


def _apart(rng: np.random.Generator, n: int, width: float, span: float = 0.14, gap: float = 0.02) -> list[float]:
    for _ in range(10000):
        ys = np.sort(rng.uniform(-span, span, n))
        if n == 1 or np.min(np.diff(ys)) >= width + gap:
            return rng.permutation(ys).tolist()
    raise RuntimeError(f"cannot place {n} blocks apart")

