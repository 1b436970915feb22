"""Visual variants and the held-out split.

Each factor (palette, block size, camera azimuth, lighting, table texture, task-specific ones such
as the block count) has a pool of training values and a pool of held-out values, read from YAML.
A ``train`` scene draws every factor from its training pool. A ``heldout`` scene draws exactly one
factor (chosen at random among those with held-out values) from its held-out pool and the rest
from training pools, and records which factor it was. Training never sees a held-out value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from physgen.cell.scene import COLOURS, Appearance
from physgen.config import ConfigError


@dataclass(frozen=True)
class Factor:
    name: str
    train: tuple[Any, ...]
    heldout: tuple[Any, ...] = ()


@dataclass(frozen=True)
class VariantSpace:
    factors: tuple[Factor, ...]
    lighting: dict[str, dict[str, Any]]

    @classmethod
    def from_yaml(cls, factors: dict[str, Any], lighting: dict[str, Any], where: str) -> VariantSpace:
        out = []
        for name, pools in factors.items():
            if not isinstance(pools, dict) or "train" not in pools:
                raise ConfigError(f"{where}.{name}", pools, "a mapping with a 'train' list (and optional 'heldout')")
            train, held = tuple(_freeze(pools["train"])), tuple(_freeze(pools.get("heldout", [])))
            if not train:
                raise ConfigError(f"{where}.{name}.train", pools["train"], "a non-empty list")
            clash = set(map(repr, train)) & set(map(repr, held))
            if clash:
                raise ConfigError(f"{where}.{name}.heldout", pools.get("heldout"),
                                  f"values not in train (shared: {sorted(clash)})")
            out.append(Factor(name, train, held))
        space = cls(tuple(out), lighting)
        for f in space.factors:
            if f.name == "palette":
                for pal in f.train + f.heldout:
                    for c in pal:
                        if c not in COLOURS:
                            raise ConfigError(f"{where}.palette", c, f"a colour in {sorted(COLOURS)}")
            if f.name == "lighting":
                for v in f.train + f.heldout:
                    if v not in lighting:
                        raise ConfigError(f"{where}.lighting", v, f"a lighting preset in {sorted(lighting)}")
        return space

    def draw(self, rng: np.random.Generator, split: str) -> dict[str, Any]:
        heldable = [f.name for f in self.factors if f.heldout]
        held = str(rng.choice(heldable)) if split == "heldout" and heldable else None
        variant: dict[str, Any] = {}
        for f in self.factors:
            pool = f.heldout if f.name == held else f.train
            variant[f.name] = pool[int(rng.integers(len(pool)))]
        variant["heldout_factor"] = held
        return variant

    def appearance(self, variant: dict[str, Any]) -> Appearance:
        light = self.lighting[variant["lighting"]]
        return Appearance(
            light_direction=tuple(light["direction"]),
            light_colour=tuple(light["colour"]),
            ambient=float(light["ambient"]),
            diffuse=float(light["diffuse"]),
            specular=float(light.get("specular", 0.05)),
            shadow=bool(light.get("shadow", True)),
            table_texture=variant["table_texture"],
            camera_azimuth_deg=float(variant["camera_azimuth_deg"]),
        )


def _freeze(values: list[Any]) -> list[Any]:
    return [tuple(_freeze(v)) if isinstance(v, list) else v for v in values]
