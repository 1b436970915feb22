"""Regenerate the table textures in this folder (deterministic; run once, results are committed)."""

from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).parent


def wood(rng: np.random.Generator) -> np.ndarray:
    y = np.linspace(0, 1, 128)[:, None]
    x = np.linspace(0, 1, 128)[None, :]
    grain = 0.5 + 0.5 * np.sin(40 * y + 3 * np.sin(6 * x) + rng.normal(0, 0.2, (128, 128)))
    base = np.array([190, 150, 105])
    return (base * (0.85 + 0.15 * grain[..., None])).clip(0, 255)


def checker(rng: np.random.Generator) -> np.ndarray:
    idx = (np.arange(128)[:, None] // 16 + np.arange(128)[None, :] // 16) % 2
    return np.where(idx[..., None] == 1, [200, 200, 200], [120, 120, 130]).astype(float)


def concrete(rng: np.random.Generator) -> np.ndarray:
    return (np.full((128, 128, 3), 150.0) + rng.normal(0, 12, (128, 128, 1))).clip(0, 255)


def cloth(rng: np.random.Generator) -> np.ndarray:
    stripes = (np.arange(128)[None, :] // 8) % 2
    base = np.where(stripes[..., None] == 1, [60, 90, 140], [80, 110, 160]).astype(float)
    return base + rng.normal(0, 4, (128, 128, 1))


if __name__ == "__main__":
    for fn in (wood, checker, concrete, cloth):
        img = fn(np.random.default_rng(0)).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(HERE / f"{fn.__name__}.png", optimize=True)
