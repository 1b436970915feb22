"""Typed configuration: build() and the task registry reject bad values with a ConfigError that
names the parameter (dotted path), the value and what was expected."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from physgen.cell.config import CameraConfig, CellConfig, MotionConfig, PhysicsConfig
from physgen.config import ConfigError, build, load_yaml
from physgen.resources import sim_path
from physgen.tasks import load_task, task_names
from physgen.tasks.registry import _CLASSES
from physgen.tasks.variants import VariantSpace


def raises_config(fn, *args, name: str, value, expected: str) -> ConfigError:
    """Call ``fn`` and check its ConfigError names ``name``, shows ``value`` and says ``expected``."""
    with pytest.raises(ConfigError) as info:
        fn(*args)
    err = info.value
    assert err.name == name
    assert err.value == value
    assert expected in err.expected
    message = str(err)
    assert name in message and repr(value) in message and expected in message
    return err


@dataclass(frozen=True)
class Inner:
    rate: float = 1.0
    mode: str = "a"


@dataclass(frozen=True)
class Outer:
    count: int = 1
    flag: bool = False
    pair: tuple[int, int] = (0, 0)
    inner: Inner = field(default_factory=Inner)


# --- build() on plain dataclasses ------------------------------------------------------------------
def test_build_nested_dataclasses():
    out = build(Outer, {"count": 3, "flag": True, "pair": [4, 5], "inner": {"rate": 2, "mode": "b"}})
    assert out == Outer(3, True, (4, 5), Inner(2.0, "b"))
    assert isinstance(out.inner.rate, float)  # an int given for a float is converted
    assert build(Outer, None) == Outer()


def test_build_rejects_unknown_key_with_dotted_path():
    err = raises_config(build, Outer, {"inner": {"speed": 9}}, name="inner.speed", value=9, expected="known keys")
    assert "rate" in err.expected and "mode" in err.expected  # the known keys are listed
    raises_config(build, Outer, {"cuont": 2}, "top", name="top.cuont", value=2, expected="known keys")


@pytest.mark.parametrize(
    "data, name, value, expected",
    [
        ({"count": "3"}, "count", "3", "an integer"),
        ({"count": 2.5}, "count", 2.5, "an integer"),
        ({"count": True}, "count", True, "an integer"),  # bool is not an int here
        ({"flag": "yes"}, "flag", "yes", "true or false"),
        ({"pair": [1, 2, 3]}, "pair", [1, 2, 3], "a list of 2 values"),
        ({"pair": [1, "x"]}, "pair[1]", "x", "an integer"),
        ({"inner": {"rate": "fast"}}, "inner.rate", "fast", "a number"),
        ({"inner": {"mode": 7}}, "inner.mode", 7, "a string"),
        ({"inner": 5}, "inner", 5, "a mapping"),
    ],
)
def test_build_rejects_wrong_types(data, name, value, expected):
    raises_config(build, Outer, data, name=name, value=value, expected=expected)


# --- the cell's configuration ----------------------------------------------------------------------
def test_cell_config_defaults_are_valid():
    cfg = build(CellConfig, {})
    assert cfg == CellConfig()
    assert cfg.physics == PhysicsConfig() and cfg.motion == MotionConfig() and cfg.scene_camera == CameraConfig()


def test_cell_config_nested_values():
    cfg = build(CellConfig, {"physics": {"solver_iterations": 50}, "scene_camera": {"width": 160, "height": 120},
                             "wrist_resolution": [64, 48]})
    assert cfg.physics.solver_iterations == 50
    assert (cfg.scene_camera.width, cfg.scene_camera.height) == (160, 120)
    assert cfg.wrist_resolution == (64, 48)


@pytest.mark.parametrize(
    "data, where, name, value, expected",
    [
        ({"physics": {"timestep": 1.0}}, "", "physics.timestep", 1.0, "a number in [0.0001, 0.05]"),
        ({"physics": {"solver_iterations": 0}}, "", "physics.solver_iterations", 0, "a number in [1, 10000]"),
        ({"motion": {"speed": -1}}, "", "motion.speed", -1.0, "a number in [0.01, 2.0]"),
        ({"scene_camera": {"width": 8}}, "", "scene_camera.width", 8, "a number in [16, 4096]"),
        ({"scene_camera": {"near": 1.0, "far": 0.5}}, "", "scene_camera.far", 0.5, "greater than near"),
        ({"wrist_resolution": [64, 4]}, "", "wrist_resolution[1]", 4, "a number in [16, 4096]"),
        ({"renderer": "opengl"}, "", "renderer", "opengl", "one of ['tiny', 'egl']"),
        ({"physics": {"timestep": 1.0}}, "cell", "cell.physics.timestep", 1.0, "[0.0001, 0.05]"),
        ({"scene_camera": {"fov_deg": 200}}, "cell", "cell.scene_camera.fov_deg", 200.0, "[5.0, 150.0]"),
    ],
)
def test_cell_config_rejects_out_of_range(data, where, name, value, expected):
    raises_config(build, CellConfig, data, where, name=name, value=value, expected=expected)


def test_direct_construction_is_validated_too():
    with pytest.raises(ConfigError, match="timestep"):
        PhysicsConfig(timestep=0.0)
    with pytest.raises(ConfigError, match="eye") as info:
        CameraConfig(eye=(0.5, 0.0, 0.1), target=(0.5, 0.0, 0.1))
    assert info.value.name == "eye" and "different from" in info.value.expected


# --- the task registry -----------------------------------------------------------------------------
def _shared():
    return load_yaml(sim_path("variants.yaml"))


def test_variant_space_from_the_shipped_yaml():
    shared = _shared()
    space = VariantSpace.from_yaml(shared["factors"], shared["lighting"], "v")
    assert {f.name for f in space.factors} == set(shared["factors"])
    assert all(f.train for f in space.factors)


def test_variant_space_rejects_heldout_value_also_in_train():
    shared = _shared()
    factors = {**shared["factors"], "block_size": {"train": [0.045, 0.05], "heldout": [0.05, 0.055]}}
    err = raises_config(VariantSpace.from_yaml, factors, shared["lighting"], "v", name="v.block_size.heldout",
                        value=[0.05, 0.055], expected="values not in train")
    assert "0.05" in err.expected


def test_variant_space_rejects_unknown_colour():
    shared = _shared()
    factors = {**shared["factors"], "palette": {"train": [["red", "magenta", "blue"]]}}
    raises_config(VariantSpace.from_yaml, factors, shared["lighting"], "v", name="v.palette", value="magenta",
                  expected="a colour in")


def test_variant_space_rejects_unknown_lighting_preset():
    shared = _shared()
    factors = {**shared["factors"], "lighting": {"train": ["noon", "disco"]}}
    err = raises_config(VariantSpace.from_yaml, factors, shared["lighting"], "v", name="v.lighting", value="disco",
                        expected="a lighting preset")
    assert "noon" in err.expected  # the known presets are listed


@pytest.mark.parametrize("pools", [[0.05], {"heldout": [0.05]}, {"train": []}])
def test_variant_space_rejects_malformed_pools(pools):
    shared = _shared()
    with pytest.raises(ConfigError, match="block_size"):
        VariantSpace.from_yaml({**shared["factors"], "block_size": pools}, shared["lighting"], "v")


@pytest.mark.parametrize(
    "task, params, name, value",
    [
        ("stability", {"min_margin": 0.5}, "p.min_margin", 0.5),
        ("stability", {"min_margin": -0.001}, "p.min_margin", -0.001),
        ("stability", {"p_stable": 2}, "p.p_stable", 2.0),
        ("shift", {"max_shift": 0}, "p.max_shift", 0),
        ("placement", {"window": 99}, "p.window", 99),
        ("overhang", {"length": [0.2, 0.1]}, "p.length[1]", 0.1),
        ("remove", {"spacing": 0.01}, "p.spacing", 0.01),
    ],
)
def test_task_params_out_of_range(task, params, name, value):
    load_task(task)  # registers the classes
    err = raises_config(build, _CLASSES[task].Params, params, "p", name=name, value=value, expected="a number in")
    assert "[" in err.expected


def test_task_params_unknown_key_and_wrong_type():
    load_task("stability")
    params_cls = _CLASSES["stability"].Params
    raises_config(build, params_cls, {"min_margni": 0.01}, "p", name="p.min_margni", value=0.01, expected="known keys")
    raises_config(build, params_cls, {"min_margin": "small"}, "p", name="p.min_margin", value="small",
                  expected="a number")


def test_load_unknown_task_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        load_task("nope")
    assert info.value.name == "task" and info.value.value == "nope"
    for name in task_names():
        assert name in str(info.value)
