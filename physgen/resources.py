"""Where physgen's data files live: the repository's ``sim/`` and ``models/``, or their installed copies.

A checkout (editable install, tests) uses the folders beside the package. pip and colcon install
them as data files under ``<prefix>/share/physgen/``, which is found from the package's location
(``<prefix>/lib/pythonX.Y/site-packages/physgen``) or from ``sys.prefix``.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """The directory ``sim`` or ``models``; raises FileNotFoundError naming every place looked at."""
    candidates = [_PKG.parent / name]
    if len(_PKG.parents) > 3:
        candidates.append(_PKG.parents[3] / "share" / "physgen" / name)
    candidates.append(Path(sys.prefix) / "share" / "physgen" / name)
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(f"physgen data folder {name!r} not found; looked in: {', '.join(map(str, candidates))}")


def sim_path(*parts: str) -> Path:
    return data_dir("sim").joinpath(*parts)
