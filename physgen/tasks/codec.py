"""The one codec: model text <-> typed answer. Used by inference, dataset building and reward.

``parse`` never raises on model output: it returns a :class:`Parsed` with either an answer or a
reason code from :data:`REASONS`. ``render`` is its inverse for the canonical answer text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

REASONS = {
    "ok": "parsed",
    "empty": "no text",
    "no_answer": "no token of the expected kind",
    "ambiguous": "several different candidate answers",
    "wrong_count": "a different number of integers than asked",
    "not_integer": "a number with a fractional part",
    "out_of_range": "an integer outside the allowed range",
}

_INT = re.compile(r"(?<![\w.])([-+−]?\d+(?:\.\d+)?)(?![\w.]*\d)")
_WORD = re.compile(r"[a-z]+")
_PREFIX = re.compile(r"^\s*(?:final\s+)?answer\s*(?:[:=]|-(?!\d))?\s*", re.IGNORECASE)  # "Answer -3" is -3


@dataclass(frozen=True)
class AnswerFormat:
    """What an answer looks like: one of ``choices``, or ``count`` integers in [low, high] of ``unit``."""

    kind: Literal["choice", "int"]
    choices: tuple[str, ...] = ()
    count: int = 1
    low: int = -20
    high: int = 20
    unit: str = "cm"

    def describe(self) -> str:
        if self.kind == "choice":
            return "one word: " + " or ".join(self.choices)
        if self.count == 1:
            return f"one integer number of {self.unit} from {self.low} to {self.high}"
        return f"{self.count} integers in {self.unit}, separated by a space, each from {self.low} to {self.high}"


Answer = str | tuple[int, ...]


@dataclass(frozen=True)
class Parsed:
    """The codec's verdict on one text: ``answer`` is set exactly when ``reason == "ok"``."""

    text: str
    answer: Answer | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.reason == "ok"

    def to_dict(self) -> dict:
        answer = list(self.answer) if isinstance(self.answer, tuple) else self.answer
        return {"raw": self.text, "answer": answer, "reason": self.reason}


def parse(text: str, fmt: AnswerFormat) -> Parsed:
    """Parse model output into an answer of ``fmt`` or a reason code. Never raises."""
    if not isinstance(text, str) or not text.strip():
        return Parsed(text if isinstance(text, str) else repr(text), None, "empty")
    body = _PREFIX.sub("", text.strip(), count=1)
    if fmt.kind == "choice":
        return _parse_choice(text, body, fmt)
    return _parse_ints(text, body, fmt)


def _parse_choice(text: str, body: str, fmt: AnswerFormat) -> Parsed:
    words = _WORD.findall(body.lower())
    found = []
    for w in words:
        if w in fmt.choices and w not in found:
            found.append(w)
    if not found:
        return Parsed(text, None, "no_answer")
    if len(found) > 1:
        return Parsed(text, None, "ambiguous")
    return Parsed(text, found[0], "ok")


def _parse_ints(text: str, body: str, fmt: AnswerFormat) -> Parsed:
    tokens = [t.replace("−", "-") for t in _INT.findall(body)]
    if not tokens:
        return Parsed(text, None, "no_answer")
    if any(t.partition(".")[2].strip("0") for t in tokens):
        return Parsed(text, None, "not_integer")
    values = [float(t) for t in tokens]  # a token too long for a float becomes +-inf: out of range
    if len(values) != fmt.count:
        return Parsed(text, None, "wrong_count")
    if any(not fmt.low <= v <= fmt.high for v in values):
        return Parsed(text, None, "out_of_range")
    return Parsed(text, tuple(int(v) for v in values), "ok")


def render(answer: Answer, fmt: AnswerFormat) -> str:
    """The canonical text of an answer (what the expert says and SFT trains on)."""
    if fmt.kind == "choice":
        if answer not in fmt.choices:
            raise ValueError(f"answer {answer!r} is not one of {fmt.choices}")
        return str(answer)
    values = tuple(answer)
    if len(values) != fmt.count or any(not fmt.low <= v <= fmt.high for v in values):
        raise ValueError(f"answer {values!r} does not fit {fmt.describe()}")
    return " ".join(str(v) for v in values)
