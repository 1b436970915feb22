"""The task suite: deterministic sampling, prompts, the held-out split, format errors, and each
task's physics on expert, chance and deliberately bad answers."""

from __future__ import annotations

import numpy as np
import pytest

from physgen.cell.scene import COLOURS
from physgen.evaluation.episode import begin, finish, observation, run_episode
from physgen.policy.chance import ChancePolicy
from physgen.policy.expert import ExpertPolicy
from physgen.tasks import load_task, task_names
from physgen.tasks.codec import REASONS, parse

TASKS = task_names()
BLANK = np.zeros((8, 8, 3), np.uint8)


def test_the_suite_has_the_six_tasks():
    assert TASKS == ["stability", "shift", "placement", "overhang", "fall_direction", "remove"]


@pytest.mark.parametrize("name", TASKS)
def test_sample_is_deterministic_and_varies_with_seed(name):
    task = load_task(name)
    for split in ("train", "heldout"):
        assert task.sample(3, split) == task.sample(3, split)
    scenes = {repr(task.sample(s).scene) for s in range(5)}
    assert len(scenes) == 5
    assert task.sample(3, "train").scene != task.sample(3, "heldout").scene
    with pytest.raises(ValueError, match="split"):
        task.sample(0, "test")


@pytest.mark.parametrize("name", TASKS)
def test_prompt_states_the_answer_format(name):
    task = load_task(name)
    fmt = task.answer_format
    for seed in range(3):
        prompt = task.sample(seed).prompt.lower()
        if fmt.kind == "choice":
            assert "one word" in prompt
            if len(fmt.choices) <= 4:
                assert all(c in prompt for c in fmt.choices)
            else:  # remove: any colour names a block
                assert "colour" in prompt
        else:
            assert "integer" in prompt
            assert {1: "one", 2: "two"}[fmt.count] in prompt
            assert "centimetre" in prompt
    assert fmt.describe() in task.describe()


@pytest.mark.parametrize("name", TASKS)
def test_garbage_answer_gets_format_penalty(name, cell, oracles):
    task = load_task(name)
    for text in ("", "banana %%% ?", "-"):
        assert parse(text, task.answer_format).reason in set(REASONS) - {"ok"}
    inst, _ = begin(cell, task, 0, "train")
    record = finish(cell, task, inst, "banana %%% ?", oracles, "test")
    assert record.reason == "no_answer" and record.answer is None
    assert record.success is False
    assert record.reward == task.format_penalty < 0
    assert record.motions == [] and record.plan["invalid"] == "no_answer"


@pytest.mark.parametrize("name", TASKS)
def test_train_split_never_shows_heldout_values(name):
    task = load_task(name)
    factors = {f.name: f for f in task.variants.factors}
    held_pools = {n for n, f in factors.items() if f.heldout}
    assert held_pools  # every task has a held-out split to test
    seen_held = set()
    for seed in range(200):
        train = task.sample(seed, "train").variant
        assert train["heldout_factor"] is None
        for n, f in factors.items():
            assert train[n] in f.train and train[n] not in f.heldout

        held = task.sample(seed, "heldout").variant
        which = held["heldout_factor"]
        assert which in held_pools
        seen_held.add(which)
        assert held[which] in factors[which].heldout
        for n, f in factors.items():
            if n != which:
                assert held[n] in f.train, (n, held[n])
    assert seen_held == held_pools  # over 200 seeds every factor takes its turn


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_expert_succeeds(name, cell, oracles):
    task = load_task(name)
    expert = ExpertPolicy(oracles)
    for seed, split in [*((s, "train") for s in range(5)), (0, "heldout")]:
        record = run_episode(cell, task, seed, split, expert, oracles)
        assert record.reason == "ok"
        assert record.success, (name, seed, split, record.to_dict())
        assert record.reward == 1.0
        assert record.physics["timestep"] == cell.config.physics.timestep
        if task.embodied:
            assert all(m["ok"] for m in record.motions)


@pytest.mark.parametrize("name", TASKS)
def test_chance_answers_parse_and_are_deterministic(name):
    task = load_task(name)
    fmt = task.answer_format
    answers = []
    for seed in range(40):
        inst = task.sample(seed)
        obs = observation(task, inst, BLANK)
        text = ChancePolicy(seed=7).act(obs)
        assert text == ChancePolicy(seed=7).act(obs)
        parsed = parse(text, fmt)
        assert parsed.ok, text
        answers.append(parsed.answer)
    assert len(set(answers)) > 1  # it does guess


def test_remove_rejects_unknown_and_non_top_blocks(cell, oracles):
    task = load_task("remove")
    inst = task.sample(0)
    absent = next(c for c in COLOURS if c not in inst.facts["blocks"])
    below = next(b for b in inst.facts["blocks"] if b not in inst.facts["tops"])
    assert task.plan(inst, absent).invalid == "unknown_block"
    assert task.plan(inst, below).invalid == "not_a_top_block"
    assert task.plan(inst, inst.facts["culprit"]).invalid == ""

    begin(cell, task, 0, "train")
    record = finish(cell, task, inst, absent, oracles)
    assert record.reason == "ok"  # well formed, but no such block
    assert record.success is False and record.reward == 0.0
    assert record.judgement == {"invalid_action": "unknown_block"}
    assert record.motions == []


def test_shift_far_wrong_answer_fails(cell, oracles):
    task = load_task("shift")
    inst = task.sample(0)
    ys = inst.facts["ys"]
    lean = 1 if ys[-1] > ys[-2] else -1
    wrong = lean * task.params.max_shift  # move the overhanging top block further out
    oracle = oracles.get(task, inst)
    assert oracle.candidates[(wrong,)] is False
    begin(cell, task, 0, "train")
    record = finish(cell, task, inst, str(wrong), oracles)
    assert record.motions and all(m["ok"] for m in record.motions)  # the arm did as told
    assert record.settle["stood"] is False
    assert record.success is False and record.reward < 1.0


def test_overhang_zero_stands_but_is_not_the_answer(cell, oracles):
    task = load_task("overhang")
    # A plank longer than twice its support tips to the left at 0; "when valid" means a short one.
    def zero_valid(s):
        oracle = oracles.get(task, task.sample(s))
        return oracle.candidates[(0,)] and oracle.best[0] > 0

    seed = next(s for s in range(20) if zero_valid(s))
    inst = task.sample(seed)
    begin(cell, task, seed, "train")
    record = finish(cell, task, inst, "0", oracles)
    assert record.settle["stood"] is True
    assert record.success is False and record.reward == 0.0
