"""The answer codec: every reason code, prefixes, unicode minus; render/parse round trips; parse
never raises on arbitrary text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physgen.tasks.codec import REASONS, AnswerFormat, parse, render

YES_NO = AnswerFormat("choice", ("yes", "no"))
ONE_INT = AnswerFormat("int", count=1, low=-10, high=10)
TWO_INTS = AnswerFormat("int", count=2, low=-20, high=40)


@pytest.mark.parametrize(
    "text, fmt, reason, answer",
    [
        ("", YES_NO, "empty", None),
        ("   \n\t", ONE_INT, "empty", None),
        ("maybe", YES_NO, "no_answer", None),
        ("yes or no", YES_NO, "ambiguous", None),
        ("Yes.", YES_NO, "ok", "yes"),
        ("NO, it stands", YES_NO, "ok", "no"),
        ("yes, yes", YES_NO, "ok", "yes"),
        ("Answer: no", YES_NO, "ok", "no"),
        ("Final answer: yes", YES_NO, "ok", "yes"),
        ("about five", ONE_INT, "no_answer", None),
        ("1 2", ONE_INT, "wrong_count", None),
        ("3", TWO_INTS, "wrong_count", None),
        ("2.5", ONE_INT, "not_integer", None),
        ("3.0", ONE_INT, "ok", (3,)),
        ("11", ONE_INT, "out_of_range", None),
        ("-11", ONE_INT, "out_of_range", None),
        ("4", ONE_INT, "ok", (4,)),
        ("+4", ONE_INT, "ok", (4,)),
        ("-4", ONE_INT, "ok", (-4,)),
        ("\u22124", ONE_INT, "ok", (-4,)),  # unicode minus
        ("Answer: \u22123 cm", ONE_INT, "ok", (-3,)),
        ("Answer: 7", ONE_INT, "ok", (7,)),
        ("answer = -2", ONE_INT, "ok", (-2,)),
        ("Answer -3", ONE_INT, "ok", (-3,)),  # the minus belongs to the number, not to the prefix
        ("Final answer: 3 12", TWO_INTS, "ok", (3, 12)),
        ("move it 5cm", ONE_INT, "ok", (5,)),
        ("x2", ONE_INT, "no_answer", None),  # a digit inside a word is not a number
        ("9" * 400, ONE_INT, "out_of_range", None),  # too large for a float: still no exception
        ("9" * 400 + ".5", ONE_INT, "not_integer", None),
    ],
)
def test_parse_reason_codes(text, fmt, reason, answer):
    parsed = parse(text, fmt)
    assert parsed.reason == reason
    assert parsed.answer == answer
    assert parsed.ok == (reason == "ok")
    assert parsed.text == text


def test_every_reason_code_is_reachable():
    seen = {parse(t, f).reason for t, f in [("", YES_NO), ("hm", YES_NO), ("yes no", YES_NO), ("1 2", ONE_INT),
                                             ("1.5", ONE_INT), ("99", ONE_INT), ("1", ONE_INT)]}
    assert seen == set(REASONS)


def test_parse_non_string_is_empty():
    parsed = parse(None, YES_NO)  # type: ignore[arg-type]
    assert parsed.reason == "empty" and parsed.answer is None


def test_render_rejects_answers_outside_the_format():
    with pytest.raises(ValueError):
        render("maybe", YES_NO)
    with pytest.raises(ValueError):
        render((11,), ONE_INT)
    with pytest.raises(ValueError):
        render((1,), TWO_INTS)


def test_to_dict_is_json_ready():
    assert parse("1 2", TWO_INTS).to_dict() == {"raw": "1 2", "answer": [1, 2], "reason": "ok"}


# --- properties ------------------------------------------------------------------------------------
# The codec treats a leading word "answer" as the "Answer:" prefix, so it is no choice here.
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).filter(lambda w: w != "answer")
PREFIXES = st.sampled_from(["", "Answer: ", "answer ", "Answer ", "Final answer: ", "ANSWER=", "  "])


@st.composite
def choice_formats(draw):
    return AnswerFormat("choice", tuple(draw(st.lists(WORDS, min_size=1, max_size=6, unique=True))))


@st.composite
def int_formats(draw):
    low = draw(st.integers(-1000, 1000))
    high = draw(st.integers(low, low + 2000))
    return AnswerFormat("int", count=draw(st.integers(1, 4)), low=low, high=high, unit="cm")


FORMATS = st.one_of(choice_formats(), int_formats())


@st.composite
def format_and_answer(draw):
    fmt = draw(FORMATS)
    if fmt.kind == "choice":
        return fmt, draw(st.sampled_from(fmt.choices))
    return fmt, tuple(draw(st.lists(st.integers(fmt.low, fmt.high), min_size=fmt.count, max_size=fmt.count)))


@settings(max_examples=300, deadline=None)
@given(format_and_answer(), PREFIXES, st.sampled_from(["", ".", " cm", "\n"]))
def test_render_parse_round_trip(fa, prefix, suffix):
    fmt, answer = fa
    text = render(answer, fmt)
    assert parse(text, fmt).answer == answer
    decorated = prefix + text + (suffix if fmt.kind == "int" or suffix != " cm" else "")
    parsed = parse(decorated, fmt)
    assert parsed.reason == "ok", decorated
    assert parsed.answer == answer


@settings(max_examples=500, deadline=None)
@given(st.text(), FORMATS)
def test_parse_never_raises(text, fmt):
    parsed = parse(text, fmt)
    assert parsed.reason in REASONS
    assert (parsed.answer is not None) == (parsed.reason == "ok")
    if parsed.ok:
        assert render(parsed.answer, fmt)  # an accepted answer always fits the format


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(-10**30, 10**30).map(str), st.floats(allow_nan=False).map(str),
                          st.sampled_from(["-", "\u2212", ".", " ", "cm", "Answer:", "e", "x"])), max_size=8),
       int_formats())
def test_parse_never_raises_on_number_soup(parts, fmt):
    parsed = parse(" ".join(parts), fmt)
    assert parsed.reason in REASONS
