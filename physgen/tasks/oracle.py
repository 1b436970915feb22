"""The physics oracle service: one sandbox cell, and each instance's result computed once.

Results are kept in memory (LRU) and on disk (:class:`OracleStore`), so every policy, run and process
on a machine shares them. A disk entry is keyed by task, split and seed, and stored under the physics
fingerprint (:func:`fingerprint`): the physics settings, PyBullet, and the source of the code that
computes oracles. A change to any of them is a new directory, so a stale result is never served.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import platform
import tempfile
import warnings
from collections import OrderedDict
from functools import cache
from pathlib import Path

import numpy as np

from physgen.cell.config import PhysicsConfig
from physgen.cell.quiet import c_output_silenced
from physgen.resources import sim_path
from physgen.tasks.base import Instance, OracleResult, Task
from physgen.tasks.towers import Sandbox

with c_output_silenced():
    import pybullet

try:
    import fcntl
except ImportError:  # not POSIX: entries are not locked (two processes may compute one twice)
    fcntl = None

CACHE_ENV = "PHYSGEN_CACHE"
OFF = ("", "0", "off", "none", "false")  # values of $PHYSGEN_CACHE that turn the disk cache off
_PACKAGE = Path(__file__).resolve().parents[1]  # physgen/


def cache_root() -> Path | None:
    """Where physgen keeps shared caches: ``$PHYSGEN_CACHE`` (one of ``OFF``: no disk cache), else
    ``$XDG_CACHE_HOME/physgen``, else ``~/.cache/physgen``."""
    if CACHE_ENV in os.environ:
        value = os.environ[CACHE_ENV].strip()
        return None if value.lower() in OFF else Path(value).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()) / "physgen"


@cache
def _code_digest() -> str:
    """The source of every package an oracle's code can reach (the cell, the planner, the tasks) and
    the URDFs of what the sandbox builds."""
    h = hashlib.sha256()
    files = [*(f for pkg in ("cell", "motion", "tasks") for f in sorted((_PACKAGE / pkg).glob("*.py"))),
             *sorted(sim_path("urdf").glob("*.urdf"))]
    for f in files:
        h.update(f"{f.parent.name}/{f.name}".encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def fingerprint(physics: PhysicsConfig) -> str:
    """A digest of everything besides the instance that decides an oracle result: the physics
    settings, PyBullet's API and package versions, numpy's version, the machine type and the code
    (:func:`_code_digest`)."""
    parts = {"physics": dataclasses.asdict(physics), "pybullet_api": pybullet.getAPIVersion(),
             "pybullet": _version("pybullet"), "numpy": np.__version__, "machine": platform.machine(),
             "code": _code_digest()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def _digest(value) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()


class OracleStore:
    """Oracle results on disk: ``ROOT/oracles/FINGERPRINT/TASK/SPLIT-SEED.json``.

    An entry names what it answers (task, split, seed, a digest of the instance and of the task's
    parameters) and holds the result as a Python literal with its SHA-256. It is written whole to a
    temporary file and renamed into place, so concurrent readers see the old entry, the new one or
    none, never part of one. An entry that does not parse, fails its checksum or answers another
    instance is a miss: the caller computes the result again and overwrites it."""

    def __init__(self, root: Path | str, physics: PhysicsConfig):
        self.root = Path(root)
        self.dir = self.root / "oracles" / fingerprint(physics)
        self._warned = False

    def path(self, inst: Instance) -> Path:
        return self.dir / inst.task / f"{inst.split}-{inst.seed}.json"

    @contextlib.contextmanager
    def lock(self, inst: Instance):
        """Hold ``inst``'s entry exclusively (``flock`` on a lock file beside it): the process that
        computes an entry holds it, so the others wanting the same entry wait and then read it. Where
        there is no lock (not POSIX, not writable), nothing is held."""
        path = self.path(inst).with_suffix(".lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a")  # noqa: SIM115 - held open for the with block below
        except OSError:
            yield
            return
        with handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, or the process dies
            yield

    def get(self, task: Task, inst: Instance) -> OracleResult | None:
        """The stored result for ``inst``, or None (absent, unreadable, corrupt or for another instance)."""
        try:
            entry = json.loads(self.path(inst).read_text())
            text = entry["result"]
            if entry["key"] != self._key(task, inst) or hashlib.sha256(text.encode()).hexdigest() != entry["sha256"]:
                return None
            return OracleResult(**ast.literal_eval(text))
        except (OSError, ValueError, KeyError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None

    def put(self, task: Task, inst: Instance, result: OracleResult) -> bool:
        """Store ``result`` for ``inst`` atomically; False when it cannot be stored exactly (a value
        that is not a plain literal) or the directory is not writable (warned once)."""
        text = repr({"best": result.best, "candidates": result.candidates, "details": result.details})
        try:
            if OracleResult(**ast.literal_eval(text)) != result:
                return False
        except (ValueError, SyntaxError, TypeError):
            return False
        entry = {"key": self._key(task, inst), "result": text, "sha256": hashlib.sha256(text.encode()).hexdigest()}
        try:
            _write_atomic(self.path(inst), json.dumps(entry))
        except OSError as e:
            if not self._warned:
                warnings.warn(f"oracle cache {self.dir} not writable ({e}); results are not shared", stacklevel=3)
                self._warned = True
            return False
        return True

    @staticmethod
    def _key(task: Task, inst: Instance) -> dict:
        return {"task": inst.task, "split": inst.split, "seed": inst.seed, "instance": _digest(inst),
                "params": _digest(task.params)}


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Oracles:
    """Each instance's oracle, computed once by simulating in a physics-only cell of its own.

    Results are kept in memory (the last ``cache_size``) and, with ``disk`` true, in the shared
    on-disk cache under :func:`cache_root` (a path: under that directory; false: none). ``counts``
    says where each answer came from: ``memory``, ``disk`` or ``computed``."""

    def __init__(self, physics: PhysicsConfig | None = None, cache_size: int = 256, disk: bool | str | Path = True):
        self.physics = physics or PhysicsConfig()
        self._sandbox: Sandbox | None = None
        self._cache: OrderedDict[tuple, OracleResult] = OrderedDict()
        self._size = cache_size
        root = (cache_root() if disk is True else Path(disk)) if disk is not False else None
        self.store = OracleStore(root, self.physics) if root is not None else None
        self.counts = {"memory": 0, "disk": 0, "computed": 0}

    def get(self, task: Task, inst: Instance) -> OracleResult:
        key = (inst.task, inst.seed, inst.split)
        if key in self._cache:
            self._cache.move_to_end(key)
            self.counts["memory"] += 1
            return self._cache[key]
        result = self._shared(task, inst) if self.store is not None else self._compute(task, inst)
        self._cache[key] = result
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return result

    def _shared(self, task: Task, inst: Instance) -> OracleResult:
        """From the disk cache, else computed and stored under the entry's lock, so processes that
        want the same entry at once compute it once."""
        result = self.store.get(task, inst)
        if result is None:
            with self.store.lock(inst):
                result = self.store.get(task, inst)  # stored by another process while this one waited
                if result is None:
                    result = self._compute(task, inst)
                    self.store.put(task, inst, result)
                    return result
        self.counts["disk"] += 1
        return result

    def _compute(self, task: Task, inst: Instance) -> OracleResult:
        if self._sandbox is None:
            self._sandbox = Sandbox(self.physics)
        self.counts["computed"] += 1
        return task.oracle(inst, self._sandbox)

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
