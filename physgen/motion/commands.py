"""What tasks ask the arm for, and what the planner runs.

Tasks speak of blocks (:class:`Pick`, :class:`Place`, :class:`Push`); :func:`resolve` turns them
into tool poses (:class:`PickAt`, :class:`PlaceAt`, :class:`PushAlong`) from the scene, which is
all a planner needs. :func:`motion_dict` and :func:`motion_of` carry a motion over the wire.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from physgen.cell.scene import SceneSpec

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Pick:
    block: str


@dataclass(frozen=True)
class Place:
    block: str
    target: Vec3
    release_height: float = 0.0


@dataclass(frozen=True)
class Push:
    start: Vec3
    direction: Vec3
    distance: float


Command = Pick | Place | Push


@dataclass(frozen=True)
class PickAt:
    """Grasp from above with the tool at ``position`` (the block's centre), fingers at ``yaw``."""

    position: Vec3
    yaw: float


@dataclass(frozen=True)
class PlaceAt:
    """Carry the held block's centre to ``position`` (+ ``release_height``), open, retract."""

    position: Vec3
    yaw: float
    release_height: float = 0.0


@dataclass(frozen=True)
class PushAlong:
    """Closed gripper down at ``start``, then a straight push of ``distance`` along ``direction``."""

    start: Vec3
    direction: Vec3
    distance: float


Motion = PickAt | PlaceAt | PushAlong
MOTIONS = {"pick": PickAt, "place": PlaceAt, "push": PushAlong}


def motion_dict(m: Motion) -> dict[str, Any]:
    name = next(k for k, v in MOTIONS.items() if isinstance(m, v))
    return {"type": name, **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(m).items()}}


def motion_of(d: dict[str, Any]) -> Motion:
    """The inverse of :func:`motion_dict`; ``ValueError`` naming what is wrong."""
    if not isinstance(d, dict) or d.get("type") not in MOTIONS:
        raise ValueError(f"motion type must be one of {sorted(MOTIONS)}, got {d!r}")
    cls = MOTIONS[d["type"]]
    args = {k: v for k, v in d.items() if k != "type"}
    try:
        values = {k: (tuple(float(x) for x in v) if isinstance(v, list) else float(v)) for k, v in args.items()}
        m = cls(**values)
    except (TypeError, ValueError) as e:
        raise ValueError(f"bad {d['type']} motion {args!r}: {e}") from None
    for k, v in asdict(m).items():
        if isinstance(v, tuple) and len(v) != 3 or not np.all(np.isfinite(v)):
            raise ValueError(f"bad {d['type']} motion: {k}={v!r}, expected finite numbers (3 for a vector)")
    return m


def grasp_yaw(scene: SceneSpec, block: str) -> float:
    """Grasp yaw that closes the fingers along the block's x side when it is not the longer one.

    At yaw 0 the Panda's fingers close along world y. Scenes spread along y, so closing along x
    (yaw 90 degrees) keeps the fingers clear of neighbouring towers."""
    spec = scene.block(block)
    return spec.yaw + (np.pi / 2 if spec.size[0] <= spec.size[1] else 0.0)


def resolve(commands: list[Command], scene: SceneSpec) -> list[Motion]:
    """Block-level commands as tool poses, from the scene as built (blocks rest at their poses
    until the arm touches them)."""
    out: list[Motion] = []
    for cmd in commands:
        if isinstance(cmd, Pick):
            out.append(PickAt(tuple(scene.block(cmd.block).position), grasp_yaw(scene, cmd.block)))
        elif isinstance(cmd, Place):
            out.append(PlaceAt(tuple(cmd.target), grasp_yaw(scene, cmd.block), cmd.release_height))
        elif isinstance(cmd, Push):
            out.append(PushAlong(tuple(cmd.start), tuple(cmd.direction), float(cmd.distance)))
        else:
            raise TypeError(f"not a motion command: {cmd!r}")
    return out
