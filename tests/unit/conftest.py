"""Shared fixtures: one real robot cell and one oracle service per test module, closed afterwards."""

from __future__ import annotations

import pytest

from physgen.cell.cell import RobotCell
from physgen.tasks.oracle import Oracles


@pytest.fixture(scope="module")
def cell():
    with RobotCell() as c:
        yield c


@pytest.fixture(scope="module")
def oracles():
    o = Oracles()
    yield o
    o.close()
