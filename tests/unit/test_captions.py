"""Generic pre-training questions: every answer format of the suite, no physics, no stacking geometry."""

from __future__ import annotations

import re

import pytest

PHYSICS_WORDS = re.compile(r"\b(fall|falls|fell|topple|stable|stability|tip|tips|tipping|overhang|support|"
                           r"balance|let go|released?)\b", re.IGNORECASE)


def test_captions_ask_in_every_answer_format_the_tasks_use():
    from physgen.tasks import load_task, task_names
    from physgen.tasks.captions import caption

    asked = {caption(s).format for s in range(800)}
    for name in task_names():
        assert load_task(name).answer_format in asked, name


def test_every_caption_answer_parses_back_and_no_question_is_about_physics():
    from physgen.tasks.captions import caption
    from physgen.tasks.codec import parse

    for s in range(800):
        c = caption(s)
        assert parse(c.answer, c.format).ok, (s, c.answer)
        assert not PHYSICS_WORDS.search(c.question), (s, c.question)
        assert c.prompt.endswith(c.question) and len(c.question) > 20


def test_the_instructions_are_the_tasks_own():
    from physgen.tasks import load_task
    from physgen.tasks.captions import COLOUR_TAIL, OFFSET_TAIL, SIDES_TAIL, YES_NO_TAIL

    assert load_task("stability").sample(0).prompt.endswith(YES_NO_TAIL)
    assert load_task("fall_direction").sample(0).prompt.endswith(SIDES_TAIL)
    assert load_task("remove").sample(0).prompt.endswith(COLOUR_TAIL)
    assert load_task("shift").sample(0).prompt.endswith(OFFSET_TAIL.split(". ")[1])


def test_sides_and_distances_are_never_asked_within_a_stack():
    import numpy as np

    from physgen.cell.scene import BlockSpec
    from physgen.tasks.captions import _questions

    s = (0.045, 0.045, 0.045)
    leaning = [BlockSpec("red", s, (0.55, 0.0, 0.0225), "red"), BlockSpec("blue", s, (0.55, 0.03, 0.0675), "blue")]
    kinds = {q.kind for q in _questions(np.random.default_rng(0), leaning, "")}
    assert not kinds & {"leftmost", "rightmost", "left_of", "which_side", "offset", "offset_size"}
    apart = [*leaning, BlockSpec("green", s, (0.55, -0.12, 0.0225), "green")]
    asked = _questions(np.random.default_rng(0), apart, "")
    assert {"leftmost", "left_of", "which_side"} <= {q.kind for q in asked}
    assert all("green" in q.prompt for q in asked if q.kind in ("left_of", "which_side"))
    assert [q.answer for q in asked if q.kind == "leftmost"] == ["green"]


def test_consecutive_caption_seeds_share_a_scene():
    from physgen.tasks.captions import PER_SCENE, caption

    assert caption(4 * PER_SCENE).scene == caption(4 * PER_SCENE + PER_SCENE - 1).scene
    assert caption(0).prompt != caption(1).prompt


@pytest.mark.parametrize("text, reward, success", [("ANSWER", 1.0, True), ("WRONG", 0.0, False), ("", -0.5, False)])
def test_a_rehearsal_prompt_in_grpo_is_rewarded_by_its_answer(text, reward, success):
    from physgen.models.tokenizer import canonical_answers
    from physgen.tasks.captions import caption
    from physgen.training.rewards import caption_reward

    c = caption(7)
    wrong = next(a for a in canonical_answers(c.format) if a != c.answer)
    text = {"ANSWER": c.answer, "WRONG": wrong}.get(text, text)
    assert caption_reward(7, text)[:2] == (reward, success)


def test_rehearsal_adds_that_fraction_of_caption_rows():
    from physgen.training.datasets import rehearsal_rows

    assert rehearsal_rows(6, 0.25) == 2 and rehearsal_rows(300, 0.25) == 100 and rehearsal_rows(300, 0.0) == 0
