"""Pinhole cameras rendered by PyBullet: matrices, intrinsics, and RGB frames as uint8 arrays."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from physgen.cell.config import CameraConfig
from physgen.cell.scene import Appearance

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels, as in sensor_msgs/CameraInfo's K."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def k(self) -> list[float]:
        return [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]


def intrinsics(cfg: CameraConfig) -> Intrinsics:
    fy = cfg.height / (2.0 * math.tan(math.radians(cfg.fov_deg) / 2.0))
    return Intrinsics(cfg.width, cfg.height, fy, fy, cfg.width / 2.0, cfg.height / 2.0)


def orbit_eye(eye: Vec3, target: Vec3, azimuth_deg: float, lift: float) -> Vec3:
    """Rotate ``eye`` about the vertical axis through ``target`` and raise it by ``lift``."""
    a = math.radians(azimuth_deg)
    dx, dy = eye[0] - target[0], eye[1] - target[1]
    return (
        target[0] + dx * math.cos(a) - dy * math.sin(a),
        target[1] + dx * math.sin(a) + dy * math.cos(a),
        eye[2] + lift,
    )


class Camera:
    """One camera on one PyBullet client. ``render`` returns an (H, W, 3) uint8 RGB array."""

    def __init__(self, client, cfg: CameraConfig, renderer_flag: int):
        self._client = client
        self.cfg = cfg
        self._renderer = renderer_flag
        self.intrinsics = intrinsics(cfg)
        self._proj = client.computeProjectionMatrixFOV(cfg.fov_deg, cfg.width / cfg.height, cfg.near, cfg.far)
        self.eye, self.target, self.up = cfg.eye, cfg.target, cfg.up
        self._view = client.computeViewMatrix(self.eye, self.target, self.up)

    def look(self, eye: Vec3, target: Vec3, up: Vec3 = (0.0, 0.0, 1.0)) -> None:
        self.eye, self.target, self.up = tuple(eye), tuple(target), tuple(up)
        self._view = self._client.computeViewMatrix(self.eye, self.target, self.up)

    def render(self, appearance: Appearance) -> np.ndarray:
        a = appearance
        _, _, rgba, _, _ = self._client.getCameraImage(
            self.cfg.width,
            self.cfg.height,
            viewMatrix=self._view,
            projectionMatrix=self._proj,
            renderer=self._renderer,
            lightDirection=list(a.light_direction),
            lightColor=list(a.light_colour),
            lightAmbientCoeff=a.ambient,
            lightDiffuseCoeff=a.diffuse,
            lightSpecularCoeff=a.specular,
            shadow=int(a.shadow),
        )
        return np.asarray(rgba, dtype=np.uint8).reshape(self.cfg.height, self.cfg.width, 4)[:, :, :3].copy()
