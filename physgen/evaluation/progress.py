"""One progress bar for a long evaluation, however many processes or graphs run its episodes.

Workers append records to their own ``episodes.jsonl``; :class:`PartFollower` reads the lines they
have completed since it last looked, and :class:`EpisodeBar` counts them: episodes done of the total,
rate and ETA (tqdm's), and the failures so far: ``errors`` (an episode that could not run to its end)
and ``unparsed`` (an answer the codec could not read).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


class EpisodeBar:
    """A tqdm bar over episodes; :meth:`add` takes each finished record (resumed ones included)."""

    def __init__(self, total: int, desc: str = "episodes", enabled: bool = True):
        from tqdm import tqdm

        self.errors = self.unparsed = 0
        self._bar = tqdm(total=total, desc=desc, unit="ep", file=sys.stderr, dynamic_ncols=True,
                         disable=None if enabled else True)

    def add(self, record: dict) -> None:
        self.errors += bool(record.get("error"))
        self.unparsed += not record.get("error") and record.get("reason") != "ok"
        self._bar.set_postfix(errors=self.errors, unparsed=self.unparsed, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> EpisodeBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PartFollower:
    """The records other processes append to ``episodes.jsonl`` files, as they complete them."""

    def __init__(self, paths: list[Path]):
        self._offsets = {Path(p): 0 for p in paths}

    def new_records(self) -> list[dict]:
        """Records completed since the last call (a line still being written waits for its newline)."""
        out = []
        for path, offset in self._offsets.items():
            if not path.exists():
                continue
            with path.open("rb") as f:
                f.seek(offset)
                data = f.read()
            end = data.rfind(b"\n") + 1
            for line in data[:end].splitlines():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:  # a cut line a worker removes when it resumes
                    continue
            self._offsets[path] = offset + end
        return out
