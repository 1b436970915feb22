"""Checks before a run starts: an output directory that cannot be written, or a disk too full for
what the run will write, is a :class:`~physgen.config.ConfigError` naming the setting, at once."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from physgen.config import ConfigError


def existing_parent(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists."""
    parent = Path(path)
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def free_bytes(name: str, path: Path | str, need: int) -> int:
    """The free bytes on ``path``'s file system; ConfigError ``name`` below ``need``."""
    where = existing_parent(Path(path))
    try:
        free = shutil.disk_usage(where).free
    except OSError as e:
        raise ConfigError(name, str(path), f"a path on a readable file system ({e})") from None
    if free < need:
        raise ConfigError(name, str(path), f"a disk with at least {need // 2**20} MiB free ({free // 2**20} MiB "
                                           f"free on {where})")
    return free


def writable_dir(name: str, path: Path | str, need: int = 64 * 2**20) -> Path:
    """Create the directory ``path`` if needed and prove it writable (a file written, synced and
    removed), with at least ``need`` bytes free; ConfigError ``name`` otherwise."""
    path = Path(path)
    free_bytes(name, path, need)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".physgen-write-check-") as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise ConfigError(name, str(path), f"a directory this user can write ({e.strerror or e})") from None
    return path
