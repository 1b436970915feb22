"""The only place physgen touches the Hugging Face Hub: it never downloads, it only looks.

:func:`offline` turns the Hugging Face libraries offline for this process (every model load calls it
before importing them). :func:`find_local` resolves a Hub repository id to a directory from an
explicit local path or the user's own Hugging Face cache, and otherwise fails saying where it looked
and how to provide the model.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class ModelNotFoundError(FileNotFoundError):
    """A model is not on this machine; the message says where physgen looked and what to do."""


def offline() -> None:
    """Make ``huggingface_hub`` and ``transformers`` offline for this process (idempotent)."""
    for var in OFFLINE_VARS:
        os.environ[var] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # imported before us: its flag was read from the old environment
        constants.HF_HUB_OFFLINE = True


def hub_cache_dir() -> Path:
    """The Hugging Face cache directory as the current environment defines it (read at call time)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.environ[var])).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(xdg) / "huggingface" / "hub"


def is_model_dir(path: Path) -> bool:
    """A directory that looks like a saved Hugging Face model (has ``config.json``)."""
    return path.is_dir() and (path / "config.json").is_file()


def find_local(repo_id: str, path: Path | None = None, revision: str | None = None, what: str = "") -> Path:
    """The local directory of Hub model ``repo_id``: ``path`` if given, else the user's HF cache.

    Never downloads. Raises :class:`ModelNotFoundError` naming every place looked at and how to
    provide the model. ``what`` names the requester in the message (for example a recipe).
    """
    looked = []
    if path is not None:
        path = Path(path).expanduser()
        if is_model_dir(path):
            return path
        why = "no config.json there" if path.is_dir() else "not a directory" if path.exists() else "does not exist"
        looked.append(f"the given path {path} ({why})")
    cache = hub_cache_dir()
    snapshot = _cached_snapshot(repo_id, cache, revision)
    if snapshot is not None:
        return snapshot
    looked.append(f"the Hugging Face cache {cache} (no complete snapshot of {repo_id}"
                  f"{'' if revision is None else f' at revision {revision}'})")
    who = f"{what}: " if what else ""
    raise ModelNotFoundError(
        f"{who}model {repo_id!r} is not available locally; physgen never downloads models at run time. "
        f"Looked in: {'; '.join(looked)}. Provide it by downloading it yourself, e.g. `hf download {repo_id}` "
        f"(huggingface_hub's command; it fills the cache above; set HF_HOME or HF_HUB_CACHE if yours is "
        f"elsewhere), or give a local directory: `path:` in the recipe or `--model PATH`."
    )


def _cached_snapshot(repo_id: str, cache: Path, revision: str | None) -> Path | None:
    offline()
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if not cache.is_dir():
        return None
    try:
        found = Path(snapshot_download(repo_id, revision=revision, cache_dir=cache, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
        return None
    has_weights = any(found.glob("*.safetensors")) or any(found.glob("*.bin"))
    return found if is_model_dir(found) and has_weights else None
