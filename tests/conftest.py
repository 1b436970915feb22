"""Fixtures for every test tier."""

from __future__ import annotations

import os

import pytest

from physgen.tasks.oracle import CACHE_ENV


@pytest.fixture(scope="session", autouse=True)
def oracle_cache_dir(tmp_path_factory):
    """Oracle results are shared on disk; tests (and the commands and nodes they start, which inherit
    the environment) keep theirs in a temporary directory, never the user's cache."""
    root = tmp_path_factory.mktemp("physgen-cache")
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(root)
    yield root
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before
