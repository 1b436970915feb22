"""What a scene is made of, as plain data: blocks, visual appearance, camera pose.

Task samplers produce a :class:`SceneSpec`; :meth:`RobotCell.load` builds it. World frame (REP 103):
x forward from the robot base, y left, z up; the table top is z = 0. The scene camera looks back
along -x, so image right is world +y: the lateral axis every task speaks of.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Vec3 = tuple[float, float, float]
RGBA = tuple[float, float, float, float]

COLOURS: dict[str, RGBA] = {
    "red": (0.85, 0.15, 0.15, 1.0),
    "green": (0.2, 0.7, 0.25, 1.0),
    "blue": (0.15, 0.35, 0.85, 1.0),
    "yellow": (0.95, 0.85, 0.15, 1.0),
    "purple": (0.55, 0.25, 0.7, 1.0),
    "orange": (0.95, 0.5, 0.1, 1.0),
    "cyan": (0.1, 0.75, 0.8, 1.0),
    "white": (0.92, 0.92, 0.92, 1.0),
    "black": (0.08, 0.08, 0.08, 1.0),
    "pink": (0.95, 0.55, 0.7, 1.0),
    "brown": (0.5, 0.3, 0.15, 1.0),
    "grey": (0.5, 0.5, 0.5, 1.0),
}


@dataclass(frozen=True)
class BlockSpec:
    """A box-shaped block. ``position`` is its centre; ``size`` the full extents (x, y, z) in metres.

    A ``held`` block is pinned in place (an experimenter's hand) until the arm grasps it or the
    scene is released; this is how an unstable tower is shown before the action.
    """

    name: str
    size: Vec3
    position: Vec3
    colour: str = "red"
    yaw: float = 0.0
    density: float = 500.0  # kg/m^3, wood
    friction: float = 0.7
    held: bool = False

    @property
    def mass(self) -> float:
        return self.density * self.size[0] * self.size[1] * self.size[2]


@dataclass(frozen=True)
class Marker:
    """A flat visual-only mark on the table (no collision)."""

    position: Vec3
    size: Vec3
    colour: str = "white"


@dataclass(frozen=True)
class Appearance:
    """The visual variant of a scene: lighting, table texture, camera offset."""

    light_direction: Vec3 = (0.6, -0.4, 1.0)
    light_colour: Vec3 = (1.0, 1.0, 1.0)
    ambient: float = 0.6
    diffuse: float = 0.4
    specular: float = 0.05
    shadow: bool = True
    table_texture: str = "wood"  # a name from sim/textures or "plain"
    table_colour: RGBA = (0.75, 0.62, 0.45, 1.0)
    camera_azimuth_deg: float = 0.0  # rotation of the scene camera about the tower's vertical axis
    camera_elevation_offset: float = 0.0  # m added to the camera eye height


@dataclass(frozen=True)
class SceneSpec:
    blocks: tuple[BlockSpec, ...]
    appearance: Appearance = field(default_factory=Appearance)
    markers: tuple[Marker, ...] = ()
    focus: Vec3 = (0.55, 0.0, 0.1)  # what the scene camera looks at

    def block(self, name: str) -> BlockSpec:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)
