"""Block-tower geometry shared by the tasks: building stacks, the analytic centre-of-mass rule, and
the physics sandbox in which oracles try candidate answers.

Towers lean only along world y, the image's horizontal axis, so every offset is visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physgen.cell.cell import RobotCell, SettleResult
from physgen.cell.config import CellConfig, PhysicsConfig
from physgen.cell.scene import BlockSpec, SceneSpec

TOWER_X = 0.55


@dataclass(frozen=True)
class Level:
    """A block in a tower, reduced to what the analytic rule needs (y centre, half width, mass)."""

    y: float
    half_width: float
    mass: float


@dataclass(frozen=True)
class ComVerdict:
    """The analytic rule: ``margin`` (m) is the smallest distance of a sub-tower's centre of mass
    inside its support's edge; negative means it falls. ``level`` is the support that fails first
    (index of the block below the overhanging part), ``direction`` +1 (image right) or -1."""

    margin: float
    level: int
    direction: int

    @property
    def stable(self) -> bool:
        return self.margin > 0


def com_rule(levels: list[Level]) -> ComVerdict:
    worst = (np.inf, 0, 1)
    for k in range(1, len(levels)):
        upper = levels[k:]
        m = sum(b.mass for b in upper)
        com = sum(b.y * b.mass for b in upper) / m
        support = levels[k - 1]
        margin = support.half_width - abs(com - support.y)
        if margin < worst[0]:
            worst = (margin, k - 1, 1 if com >= support.y else -1)
    return ComVerdict(float(worst[0]), worst[1], worst[2])


def levels_of(blocks: list[BlockSpec]) -> list[Level]:
    return [Level(b.position[1], b.size[1] / 2, b.mass) for b in blocks]


def stack(names: list[str], colours: list[str], sizes: list[tuple[float, float, float]], ys: list[float],
          x: float = TOWER_X, held: bool | list[bool] = False) -> list[BlockSpec]:
    """Blocks stacked bottom to top on the table at lateral centres ``ys``."""
    held = held if isinstance(held, list) else [held] * len(names)
    out, z = [], 0.0
    for name, colour, size, y, h in zip(names, colours, sizes, ys, held):
        out.append(BlockSpec(name, size, (x, y, z + size[2] / 2), colour, held=h))
        z += size[2]
    return out


def cm(metres: float) -> float:
    return metres * 100.0


class Sandbox:
    """A physics-only cell (no arm) for trying candidate answers from one identical start state."""

    def __init__(self, physics: PhysicsConfig | None = None):
        self.cell = RobotCell(CellConfig(arm=False, physics=physics or PhysicsConfig()))
        self._scene: SceneSpec | None = None
        self._snap = None

    def start(self, scene: SceneSpec) -> None:
        self.cell.load(scene, visual=False)  # nothing is drawn here
        self._scene, self._snap = scene, self.cell.save()

    def trial(self, moves: dict[str, tuple[float, float, float] | None], structure: list[str] | None = None,
              stop_on_fall: bool = True) -> SettleResult:
        """From the start state, teleport blocks (``None`` = take it off to the side), release all,
        and settle the ``structure`` blocks."""
        self.cell.restore(self._snap)
        for i, (name, pos) in enumerate(sorted(moves.items())):
            if pos is None:
                pos = (0.3, -0.4 + 0.08 * i, self._scene.block(name).size[2] / 2)
            self.cell.teleport(name, pos)
        self.cell.release()
        return self.cell.settle(structure, stop_on_fall=stop_on_fall)

    def close(self) -> None:
        self.cell.close()


def tower_scene(blocks: list[BlockSpec], variant: dict, space, focus_z: float | None = None) -> SceneSpec:
    """A scene of ``blocks`` in the variant's appearance, the camera aimed at the towers' middle."""
    top = max(b.position[2] + b.size[2] / 2 for b in blocks)
    z = focus_z if focus_z is not None else min(0.12, max(0.06, top / 2))
    return SceneSpec(tuple(blocks), space.appearance(variant), focus=(TOWER_X, 0.0, z))


def pick_colours(rng: np.random.Generator, variant: dict, n: int) -> list[str]:
    palette = list(variant["palette"])
    if n > len(palette):
        raise ValueError(f"{n} blocks need {n} colours; the palette has {len(palette)}")
    return [str(c) for c in rng.permutation(palette)[:n]]


def cube(variant: dict) -> tuple[float, float, float]:
    s = float(variant["block_size"])
    return (s, s, s)


def clearance(valid: dict[int, bool], k: int) -> int:
    """Distance from candidate ``k`` to the nearest invalid candidate (or the range's end)."""
    keys = sorted(valid)
    d = 1
    while True:
        for j in (k - d, k + d):
            if j < keys[0] or j > keys[-1] or not valid[j]:
                return d
        d += 1


def best_central(valid: dict[int, bool], prefer: float) -> int | None:
    """The valid candidate farthest from any invalid one; ties go to the one nearest ``prefer``."""
    ok = [k for k, v in valid.items() if v]
    if not ok:
        return None
    return max(ok, key=lambda k: (clearance(valid, k), -abs(k - prefer)))


def distance_to_valid(valid: dict, answer) -> float:
    """Euclidean distance (in answer units) from ``answer`` to the nearest valid candidate."""
    ok = [k for k, v in valid.items() if v]
    if not ok:
        return float("inf")
    a = np.atleast_1d(answer)
    return float(min(np.linalg.norm(a - np.atleast_1d(k)) for k in ok))
