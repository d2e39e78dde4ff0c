"""Shared test helpers: where ../shared is, and markers by folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# Processes the tests start (controllers, local and Slurm workers) import test scaffolding
# from tests/support (counting evaluator, cluster callables): the repository on PYTHONPATH
# (Slurm passes PYTHONPATH to jobs: slurm.environment.WORKER_NAMES).
if str(REPO) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with the reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent (tests read ../shared beside the repo; the product never does)")
    return p


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for kind in ("unit", "contract", "integration"):
            if kind in parts and not item.get_closest_marker(kind):
                item.add_marker(getattr(pytest.mark, kind))
