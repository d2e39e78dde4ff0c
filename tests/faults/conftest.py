"""The fault drills: real Slurm cluster, real S3 server, real controller processes."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here and not item.get_closest_marker("faults"):
            item.add_marker(pytest.mark.faults)
