"""The fault drills: real Slurm cluster, real S3 server, real controller processes.

Every test here is marked ``faults`` (``pytest -m faults``; ``make test`` runs them with the
rest). The group is bounded in time: each test has its own ``timeout`` and the whole group
fails once it has run longer than ``ARCHLAB_FAULTS_BUDGET_S`` (default 600 s; measured
≈ 6 minutes on the 2-core development machine).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BUDGET_S = float(os.environ.get("ARCHLAB_FAULTS_BUDGET_S", "600"))
_started: list[float] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here and not item.get_closest_marker("faults"):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(autouse=True)
def _group_budget() -> Iterator[None]:
    if not _started:
        _started.append(time.monotonic())
    yield
    spent = time.monotonic() - _started[0]
    if spent > BUDGET_S:
        pytest.fail(
            f"the faults group has run {spent:.0f} s, over its {BUDGET_S:.0f} s budget "
            "(ARCHLAB_FAULTS_BUDGET_S): shorten the drills or raise the budget"
        )
