"""The physics oracle service: one sandbox cell plus a cache of oracle results per instance."""

from __future__ import annotations

from collections import OrderedDict

from physgen.cell.config import PhysicsConfig
from physgen.tasks.base import Instance, OracleResult, Task
from physgen.tasks.towers import Sandbox


class Oracles:
    """Computes (and caches, LRU) each instance's oracle by simulating in its own physics-only cell."""

    def __init__(self, physics: PhysicsConfig | None = None, cache_size: int = 256):
        self._physics = physics or PhysicsConfig()
        self._sandbox: Sandbox | None = None
        self._cache: OrderedDict[tuple, OracleResult] = OrderedDict()
        self._size = cache_size

    def get(self, task: Task, inst: Instance) -> OracleResult:
        key = (inst.task, inst.seed, inst.split)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if self._sandbox is None:
            self._sandbox = Sandbox(self._physics)
        result = task.oracle(inst, self._sandbox)
        self._cache[key] = result
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return result

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
