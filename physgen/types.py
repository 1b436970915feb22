"""Plain values every layer shares, with no dependencies: the scene splits and a stable hash."""

from __future__ import annotations

SPLITS = ("train", "heldout")  # every task draws its scenes from these; "heldout" from held-out variants


def stable_hash(text: str) -> int:
    """A process-independent hash (Python's ``hash`` of str is salted per process)."""
    h = 2166136261
    for ch in text.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h
