"""The task suite: see :mod:`physgen.tasks.base` for the contract, :mod:`physgen.tasks.registry`
for lookup by name."""

from physgen.tasks.registry import load_task, register, task_names

__all__ = ["load_task", "register", "task_names"]
