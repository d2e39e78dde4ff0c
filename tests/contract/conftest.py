"""Fixtures of the store contract suite: every test runs once per backend (local, S3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.store_fixtures import (
    S3Server,
    StoreSpec,
    make_spec,
    start_s3_server,
    stop_s3_server,
)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server | str]:
    server = start_s3_server()
    yield server
    if isinstance(server, S3Server):
        stop_s3_server(server)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def spec(request: pytest.FixtureRequest, tmp_path: Path, s3_server: S3Server | str) -> StoreSpec:
    return make_spec(request.param, tmp_path, s3_server)
