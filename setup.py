"""setuptools script for physgen: the ROS 2 ament_python package and the pip distribution.

colcon's ament_python build runs this file directly (``setup.py install``, or ``setup.py develop``
for --symlink-install); pip builds through pyproject.toml's [build-system], which runs it too.

Metadata (name, version, description, dependencies, extras) lives in pyproject.toml [project].
This file gives the packages, the data files, the console scripts, and the fields pyproject.toml
marks `dynamic` (license, requires-python; the reasons are there). When setuptools cannot see
pyproject.toml (colcon --symlink-install runs this file from build/physgen/, where colcon symlinks
setup.py, setup.cfg, the packages and the data files but not pyproject.toml), [project] is read
here, so that build is still ``physgen 0.1.0`` with its dependencies, not ``UNKNOWN 0.0.0``.
"""

from __future__ import annotations

import os
import runpy
from glob import glob
from pathlib import Path

import setuptools
from setuptools import find_packages, setup

PACKAGE = "physgen"
# The real directory of this file (colcon --symlink-install calls it through a symlink).
HERE = Path(__file__).resolve().parent

# ROS node executables, installed to lib/physgen/ for `ros2 run physgen <name>` and launch files
# (setup.cfg sends console scripts there in colcon builds; pip puts them in the venv's bin/): one
# per node of the graph spec, physgen_nodes/graphs.py, run by path (the package being built is not
# importable here; the file imports only the standard library). Each module physgen_nodes/<name>.py
# must define main().
NODES: list[str] = list(runpy.run_path(str(HERE / "physgen_nodes" / "graphs.py"))["EXECUTABLES"].values())

CONSOLE_SCRIPTS = [
    "physgen = physgen.cli:main",
    *(f"{name} = physgen_nodes.{name}:main" for name in NODES),
]

# These two are `dynamic` in pyproject.toml, which explains why they are set here.
LICENSE = "Apache-2.0"  # also in package.xml
PYTHON_REQUIRES = ">=3.10"


def license_keyword() -> dict:
    """The SPDX license as setuptools >= 77 takes it (License-Expression), else the older field."""
    if int(setuptools.__version__.split(".")[0]) >= 77:
        return {"license_expression": LICENSE}
    return {"license": LICENSE}


# Never installed from the data folders: caches, and trained weights (gitignored, possibly GBs).
_SKIP_DIRS = {"__pycache__", "checkpoints"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


def tree_data_files(folder: str) -> list[tuple[str, list[str]]]:
    """Every file under ``folder`` as data_files entries ``share/physgen/<subdir>``, subfolders kept.

    Paths are relative to this directory (colcon asserts that data_files are relative).
    """
    entries = []
    for root, dirs, files in os.walk(HERE / folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        rel = Path(root).relative_to(HERE).as_posix()
        keep = sorted(f"{rel}/{f}" for f in files if not f.startswith(".") and not f.endswith(_SKIP_SUFFIXES))
        if keep:
            entries.append((f"share/{PACKAGE}/{rel}", keep))
    return entries


def glob_data_files(dest: str, pattern: str) -> list[tuple[str, list[str]]]:
    files = sorted(Path(p).relative_to(HERE).as_posix() for p in glob(str(HERE / pattern)))
    return [(f"share/{PACKAGE}/{dest}", files)] if files else []


DATA_FILES = [
    ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
    (f"share/{PACKAGE}", ["package.xml"]),
    *glob_data_files("launch", "launch/*.launch.py"),
    *tree_data_files("config"),  # with config/real_arm/ and config/accelerate/
    *tree_data_files("sim"),
    *tree_data_files("models"),
]


def metadata_if_pyproject_unseen() -> dict:
    """pyproject.toml [project] as setup() keywords, only when setuptools will not read it itself.

    setuptools reads ``pyproject.toml`` from the working directory; where it does, [project] is
    the one source and nothing is repeated here.
    """
    if Path("pyproject.toml").resolve() == HERE / "pyproject.toml":
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # colcon-core depends on tomli there
    with open(HERE / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    return {
        "name": project["name"],
        "version": project["version"],
        "description": project.get("description", ""),
        "install_requires": project.get("dependencies", []),
        "extras_require": project.get("optional-dependencies", {}),
    }


setup(
    **metadata_if_pyproject_unseen(),
    **license_keyword(),
    python_requires=PYTHON_REQUIRES,
    packages=find_packages(where=str(HERE), include=["physgen", "physgen.*", "physgen_nodes", "physgen_nodes.*"]),
    data_files=DATA_FILES,
    entry_points={"console_scripts": CONSOLE_SCRIPTS,
                  "physgen.commands": ["ros = physgen_nodes.commands:add_commands"]},
    zip_safe=False,
)
