"""The layout the architecture promises: a ROS-free core, and every suite task with its module and YAML."""

from __future__ import annotations

import ast
from pathlib import Path

from physgen.config import load_yaml
from physgen.resources import sim_path
from physgen.tasks import load_task, task_names

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "physgen"


def ros_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "rclpy"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rclpy":
            found.append(node.module)
    return found


def test_core_never_imports_rclpy():
    modules = sorted(CORE.rglob("*.py"))
    assert len(modules) > 20
    offenders = {str(p.relative_to(ROOT)): names for p in modules if (names := ros_imports(p))}
    assert offenders == {}


def test_the_scanner_sees_both_import_forms(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import os\nimport rclpy.node as n\nfrom rclpy.qos import QoSProfile\nfrom rclpyx import y\n")
    assert ros_imports(src) == ["rclpy.node", "rclpy.qos"]


def test_every_suite_task_has_module_yaml_and_registration():
    suite = load_yaml(sim_path("suite.yaml"))["tasks"]
    assert len(suite) == len(set(suite)) == 6
    for name in suite:
        assert (CORE / "tasks" / f"{name}.py").is_file(), name
        data = load_yaml(sim_path("tasks", f"{name}.yaml"))
        assert data["task"] == name
        assert load_task(name).name == name
    assert task_names()[: len(suite)] == suite
