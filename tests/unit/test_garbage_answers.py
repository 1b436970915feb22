"""Garbage from a model never raises: empty text, 10 KB of noise, numbers out of range, other
languages. Thousands of random strings through the codec for every task, some through whole episodes."""

from __future__ import annotations

import numpy as np
import pytest

from physgen.evaluation.episode import begin, finish
from physgen.tasks import load_task, task_names
from physgen.tasks.codec import REASONS, parse

ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz ",
    "0123456789-+.,: ",
    "这是一个随机的中文字符串塔会倒吗是否",
    "Башня упадёт да нет влево вправо ",
    "\x00\x01\t\n\r\x7f\u200b\ufeff\U0001f600",
]


def garbage(rng: np.random.Generator) -> str:
    kind = int(rng.integers(6))
    if kind == 0:
        return ""
    if kind == 1:  # 10 KB of noise
        return rng.bytes(10_240).decode("latin-1")
    if kind == 2:  # numbers, mostly out of range or huge
        return " ".join(str(int(v)) for v in rng.integers(-10**12, 10**12, int(rng.integers(1, 5))))
    alphabet = ALPHABETS[int(rng.integers(len(ALPHABETS)))]
    return "".join(rng.choice(list(alphabet), int(rng.integers(1, 300))))


def test_thousands_of_garbage_strings_parse_to_a_reason():
    rng = np.random.default_rng(7)
    formats = [load_task(n).answer_format for n in task_names()]
    reasons = set()
    for _ in range(3000):
        text = garbage(rng)
        for fmt in formats:
            p = parse(text, fmt)
            assert p.reason in REASONS
            assert (p.answer is not None) == p.ok
            reasons.add(p.reason)
    assert {"empty", "no_answer", "out_of_range"} <= reasons


@pytest.mark.parametrize("name", ["stability", "shift", "remove"])
def test_garbage_through_whole_episodes(cell, oracles, name):
    rng = np.random.default_rng(11)
    task = load_task(name)
    for seed in range(4):
        inst, _ = begin(cell, task, seed, "train")
        rec = finish(cell, task, inst, garbage(rng), oracles, policy="fake-garbage")
        assert rec.reason in REASONS
        if rec.reason != "ok":
            assert rec.reward == task.format_penalty and not rec.success
