"""The transfer matrix from synthetic episode records: training seeds pooled into rows, intervals that
hold at small n, paired comparisons with verdicts under Holm, the parse-failure flag, the outputs."""

from __future__ import annotations

import csv
import json

import pytest

from physgen.config import ConfigError
from physgen.evaluation import stats
from physgen.evaluation.matrix import FORMAT, NEGATIVE, NO_DIFFERENCE, TRANSFER, split_label, transfer_matrix


def rec(policy, seed, success, task="shift", split="train", reason="ok"):
    return {"policy": policy, "task": task, "split": split, "seed": seed, "success": success,
            "reward": float(success), "reason": reason}


def test_split_label():
    assert split_label("sft_shift.seed2") == ("sft_shift", 2)
    assert split_label("a.b.seed10") == ("a.b", 10)
    assert split_label("sft_shift") == ("sft_shift", None)
    assert split_label("x.seedling") == ("x.seedling", None) and split_label(".seed1") == (".seed1", None)


def test_seeds_pool_into_one_row_and_widen_the_interval_when_they_disagree():
    base = [rec("base", s, s % 2 == 0) for s in range(10)]
    spread = [rec(f"sft.seed{k}", s, s < 5 * k) for k in range(3) for s in range(10)]  # 0/10, 5/10, 10/10
    one = [rec("sft", s, s % 2 == 0) for s in range(30)]
    m = transfer_matrix(base + spread, base="base")
    assert m.rows == ["base", "sft"] and m.seeds("sft") == 2 + 1 and m.label("sft") == "sft (3 seeds)"
    cell = m.cells[("sft", "shift")]
    assert (cell.n, cell.seeds, cell.successes) == (30, 3, 15)
    assert cell.seed_rates == [0.0, 0.5, 1.0] and [k for k, _, _ in cell.per_seed] == [0, 1, 2]
    assert cell.ci_method == "wilson+bootstrap hull"
    flat = transfer_matrix(base + one, base="base").cells[("sft", "shift")]
    assert (flat.n, flat.successes, flat.seeds, flat.ci_method) == (30, 15, 1, "wilson")
    assert flat.interval == stats.wilson(15, 30)
    assert cell.ci[1] - cell.ci[0] > flat.ci[1] - flat.ci[0] + 0.2
    assert cell.ci[0] <= flat.ci[0] and cell.ci[1] >= flat.ci[1]  # the hull contains Wilson
    assert cell.paired == 30 and cell.diff_method == "newcombe+bootstrap hull"


def test_four_all_success_pairs_never_give_a_zero_width_interval():
    for policies in (["sft"], ["sft.seed0", "sft.seed1", "sft.seed2"]):
        records = [rec("base", s, False) for s in range(4)] + [rec(p, s, True) for p in policies for s in range(4)]
        cell = transfer_matrix(records, base="base").cells[("sft", "shift")]
        mean, lo, hi = cell.diff
        assert mean == 1.0 and hi - lo > 0.3 and lo > 0
        assert cell.ci[1] - cell.ci[0] > 0.2 and cell.ci[0] < 1
    both = [rec("base", s, True) for s in range(4)] + [rec("sft", s, True) for s in range(4)]
    cell = transfer_matrix(both, base="base").cells[("sft", "shift")]
    assert cell.diff[0] == 0 and cell.diff[1] < -0.3 and cell.diff[2] > 0.3
    assert cell.p == 1.0 and cell.verdict == NO_DIFFERENCE and cell.mde is None  # 4 pairs detect nothing


def test_pairs_pool_over_seeds_that_ran_different_scenes():
    base = [rec("base", s, False) for s in range(12)]
    trained = [rec(f"sft.seed{k}", s, True) for k in range(3) for s in range(4 * k, 4 * k + 4)]
    extra = [rec("sft.seed0", 100, True)]  # a scene the base never ran: not paired
    cell = transfer_matrix(base + trained + extra, base="base").cells[("sft", "shift")]
    assert (cell.n, cell.paired, cell.discordant) == (13, 12, (12, 0))
    assert cell.p == pytest.approx(stats.mcnemar_exact(12, 0))


def test_a_fully_unparsed_cell_is_flagged_and_gets_no_physics_verdict():
    records = [rec("base", s, s % 3 == 0) for s in range(20)] + \
        [rec("grpo", s, False, reason="unparseable") for s in range(20)] + \
        [rec("sft", s, True) for s in range(20)]
    m = transfer_matrix(records, base="base")
    cell = m.cells[("grpo", "shift")]
    assert cell.flagged and cell.verdict == FORMAT and cell.parse_failure_rate == 1.0
    assert cell.parsed == 0 and cell.parsed_rate is None and cell.p_adjusted is None and not cell.corrected
    assert "FORMAT 100% unparsed" in m.table() and "none parsed" in m.table()
    assert m.cells[("sft", "shift")].verdict == TRANSFER
    mixed = [rec("base", s, False) for s in range(10)] + \
        [rec("x", s, s < 5, reason="ok" if s < 7 else "unparseable") for s in range(10)]
    cell = transfer_matrix(mixed, base="base", format_threshold=0.2).cells[("x", "shift")]
    assert cell.flagged and (cell.parsed, cell.parsed_successes) == (7, 5) and cell.parsed_rate == 5 / 7
    assert not transfer_matrix(mixed, base="base", format_threshold=0.3).cells[("x", "shift")].flagged


def test_holm_runs_over_the_non_reference_rows_and_verdicts_agree_with_intervals():
    tasks = ("a", "b", "c")
    records = [rec("base", s, s % 2 == 0, task=t) for t in tasks for s in range(40)]
    records += [rec("expert", s, True, task=t) for t in tasks for s in range(40)]
    records += [rec("chance", s, s % 5 == 0, task=t) for t in tasks for s in range(40)]
    records += [rec("better", s, s % 2 == 0 or s % 3 == 0 or s % 5 == 0, task=t) for t in tasks for s in range(40)]
    records += [rec("worse", s, s % 8 == 0, task=t) for t in tasks for s in range(40)]
    m = transfer_matrix(records, base="base")
    family = [c for (r, _), c in m.cells.items() if r in ("better", "worse")]
    expected = stats.holm([c.p for c in family])
    assert [c.p_adjusted for c in family] == pytest.approx(expected)
    assert all(c.corrected and c.p_adjusted >= c.p for c in family)
    refs = [c for (r, _), c in m.cells.items() if r in ("expert", "chance")]
    assert all(not c.corrected and c.p_adjusted == c.p for c in refs)
    assert all(c.verdict is None and c.diff is None for (r, _), c in m.cells.items() if r == "base")
    assert m.cells[("expert", "a")].verdict == TRANSFER
    assert m.cells[("better", "a")].verdict == TRANSFER and m.cells[("worse", "a")].verdict == NEGATIVE
    for c in m.cells.values():
        if c.verdict == TRANSFER:
            assert c.p_adjusted < m.alpha and c.diff[1] > 0
        if c.verdict == NEGATIVE:
            assert c.p_adjusted < m.alpha and c.diff[2] < 0
        if c.diff is not None:
            assert c.mde is not None and 0 < c.mde < 1 and c.diff[2] - c.diff[1] > 0
    table = m.table()
    assert "transfer*" in table and "negative" in table and "vs base (pp)" in table and "mde" in table


def test_the_matrix_is_deterministic_and_its_outputs_carry_every_number(tmp_path):
    records = [rec("base", s, s % 2 == 0, split=sp) for sp in ("train", "heldout") for s in range(8)]
    records += [rec(f"sft.seed{k}", s, (s + k) % 3 != 0, split=sp) for sp in ("train", "heldout")
                for k in range(3) for s in range(8)]
    a, b = transfer_matrix(records, base="base"), transfer_matrix(records, base="base")
    assert a.to_dict() == b.to_dict()
    d = json.loads(json.dumps(a.to_dict()))  # plain JSON, no default needed
    assert d["settings"]["alpha"] == 0.05 and d["settings"]["correction"] == "holm"
    assert d["settings"]["bootstrap"]["resamples"] == 2000 and d["settings"]["references"] == ["expert", "chance"]
    assert d["seeds"] == {"base": 1, "sft": 3} and d["columns"] == ["shift", "shift (held-out)"]
    cell = next(c for c in d["cells"] if c["row"] == "sft" and c["column"] == "shift")
    for key in ("episodes", "seeds", "per_seed", "ci95", "ci_method", "success_rate_parsed", "format_flag",
                "paired_with_base", "discordant", "diff_vs_base", "diff_method", "p_mcnemar", "p_adjusted",
                "correction", "verdict", "mde"):
        assert key in cell, key
    assert cell["episodes"] == 24 and len(cell["per_seed"]) == 3 and cell["correction"] == "holm"
    a.write_csv(tmp_path / "m.csv")
    rows = list(csv.DictReader((tmp_path / "m.csv").open()))
    assert len(rows) == 4 and rows[2]["row"] == "sft" and rows[2]["seeds"] == "3" and rows[2]["verdict"]
    assert transfer_matrix(records, base="base", bootstrap=500).to_dict() != a.to_dict()


def test_rows_and_base_may_be_given_as_seed_labels():
    records = [rec("base", s, False) for s in range(6)]
    records += [rec(f"sft.seed{k}", s, True) for k in (1, 0) for s in range(6)]
    m = transfer_matrix(records, base="base", rows=["sft.seed1", "sft.seed0", "base"])
    assert m.rows == ["sft", "base"] and m.cells[("sft", "shift")].paired == 12
    assert [k for k, _, _ in m.cells[("sft", "shift")].per_seed] == [0, 1]
    assert transfer_matrix(records, base="sft.seed0").base == "sft"


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"alpha": 0.5}, "alpha"), ({"alpha": 0.0}, "alpha"), ({"format_threshold": 1.5}, "format_threshold"),
    ({"format_threshold": -0.1}, "format_threshold"), ({"bootstrap": 10}, "bootstrap"), ({"base": "nobody"}, "base"),
])
def test_bad_settings_name_the_setting(kwargs, name):
    with pytest.raises(ConfigError) as e:
        transfer_matrix([rec("base", 0, True)], **kwargs)
    assert e.value.name == name
