"""Dependencies point one way (docs/architecture.md): a package imports only the layers below it,
read from the imports themselves, those inside functions included; the core never imports the ROS
adapters; no two modules import each other, even through an import placed inside a function."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A package may import its own layer and the layers before it, nothing after.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("physgen", "physgen.config", "physgen.types", "physgen.resources", "physgen.preflight"),  # plain values, files
    ("physgen.cell",),  # the simulation: world, arm, cameras
    ("physgen.motion",),  # the planner: trajectories, IK, safety, the Hardware contract
    ("physgen.tasks",),  # scenes, questions, the codec, oracles
    ("physgen.models",),  # building and loading VLM checkpoints
    ("physgen.policy",),  # what answers: VLM backends, expert, chance
    ("physgen.evaluation",),  # the episode loop, runs, the matrix, statistics, reports
    ("physgen.training",),  # SFT, GRPO, datasets, rewards
    ("physgen.recording",),  # bags: write, read, export, re-score
    ("physgen.experiments",),  # the study, sample efficiency, probes
    ("physgen_nodes",),  # the ROS adapters
    ("physgen.cli",),  # the command line; hands ROS commands to physgen_nodes by entry point, not import
)
CORE_NEVER_IMPORTS = "physgen_nodes"


def modules() -> dict[str, Path]:
    out = {}
    for package in ("physgen", "physgen_nodes"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def layer_of(module: str) -> int:
    best, depth = -1, -1
    for i, members in enumerate(LAYERS):
        for m in members:
            if (module == m or module.startswith(m + ".")) and m.count(".") > depth:
                best, depth = i, m.count(".")
    assert best >= 0, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return best


def imports(path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported physgen module, line, under TYPE_CHECKING) for every import statement anywhere in
    the file; ``from pkg import mod`` names the submodule."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(n) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.append((name, node.lineno, id(node) in typing_only))
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        for target, _, typing_only in imports(path, known):
            if target != name and not typing_only:
                edges[name].add(target)
    return edges


def test_every_package_imports_only_the_layers_below_it():
    known = modules()
    assert len(known) > 60
    upward = []
    for name, path in known.items():
        for target, line, _ in imports(path, known):
            if layer_of(target) > layer_of(name):
                upward.append(f"{path.relative_to(ROOT)}:{line} {name} -> {target}")
    assert upward == []


def test_the_core_never_imports_the_ros_adapters():
    known = modules()
    found = []
    for name, path in known.items():
        if name.startswith("physgen."):
            found += [f"{name}:{line} -> {t}" for t, line, _ in imports(path, known)
                      if t.startswith(CORE_NEVER_IMPORTS)]
            text = path.read_text()
            if "import_module" in text and f'"{CORE_NEVER_IMPORTS}' in text:
                found.append(f"{name}: imports {CORE_NEVER_IMPORTS} by name")
    assert found == []


def test_no_two_modules_import_each_other():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(modules()):
        if v not in index:
            visit(v)
    assert cycles == []


@pytest.mark.parametrize("source, expected", [
    ("import physgen.tasks.codec\n", ["physgen.tasks.codec"]),
    ("def f():\n    from physgen.tasks import codec\n", ["physgen.tasks.codec"]),
    ("from physgen.tasks.codec import parse\n", ["physgen.tasks.codec"]),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from physgen.cell.cell import RobotCell\n",
     ["physgen.cell.cell"]),
])
def test_the_scanner_sees_every_import_form(tmp_path, source, expected):
    src = tmp_path / "m.py"
    src.write_text(source)
    assert [t for t, _, _ in imports(src, modules())] == expected


def test_an_upward_import_is_caught():
    assert layer_of("physgen.tasks.codec") < layer_of("physgen.policy.vlm")
    assert layer_of("physgen.cli") > layer_of("physgen_nodes.bringup") > layer_of("physgen.experiments.study")
