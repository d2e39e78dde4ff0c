"""The S3 backend against the real local S3 server, through boto3, pyarrow and DuckDB
exactly as a user's MinIO would be used."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store import open_store
from store.s3 import load_httpfs
from tests.contract.store_fixtures import S3Server, start_s3_server, stop_s3_server

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = start_s3_server()
    if not isinstance(server, S3Server):
        pytest.skip(server)
    yield server
    stop_s3_server(server)


def _rows(n: int) -> list[dict[str, object]]:
    return [
        {"candidate_id": f"c{i}", "state": "COMPLETE", "val_acc": i / n, "params": i}
        for i in range(n)
    ]


def test_objects_are_plain_parquet_under_the_documented_keys(s3: S3Server) -> None:
    prefix = f"it-{uuid.uuid4().hex[:8]}"
    store = open_store(f"s3://{s3.bucket}/{prefix}", endpoint=s3.endpoint)
    store.append("trials", "r1", _rows(50))
    client = boto3.client("s3", endpoint_url=s3.endpoint)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3.bucket, Prefix=prefix)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith(f"{prefix}/trials/run_id=r1/part-")
    body = client.get_object(Bucket=s3.bucket, Key=keys[0])["Body"].read()
    assert pq.read_table(pa.BufferReader(body)).num_rows == 50


def test_pyarrow_reads_and_writes_through_the_store_filesystem(s3: S3Server) -> None:
    store = open_store(f"s3://{s3.bucket}/it-{uuid.uuid4().hex[:8]}", endpoint=s3.endpoint)
    store.append("trials", "r1", _rows(30))
    assert store.dataset("trials").to_table().num_rows == 30
    # A pyarrow write (AWS C++ SDK): archlab sets the checksum mode that keeps Parquet intact.
    fs = store.arrow_filesystem()
    path = f"{store.bucket}/{store.prefix}/trials/run_id=r2/part-00000000000000000001-000000000000.parquet"
    pq.write_table(store.read("trials", "r1").drop_columns(["run_id"]), path, filesystem=fs)
    assert store.read("trials", "r2").num_rows == 30
    assert store.query("SELECT count(*) AS n FROM trials").column("n").to_pylist() == [60]


def test_a_users_own_duckdb_reads_the_store_with_a_secret(s3: S3Server) -> None:
    import os

    store = open_store(f"s3://{s3.bucket}/it-{uuid.uuid4().hex[:8]}", endpoint=s3.endpoint)
    store.append("trials", "r1", _rows(10))
    con = duckdb.connect()
    load_httpfs(con)
    host = s3.endpoint.split("://", 1)[1]
    con.execute(
        f"CREATE SECRET (TYPE s3, KEY_ID '{os.environ['AWS_ACCESS_KEY_ID']}', "
        f"SECRET '{os.environ['AWS_SECRET_ACCESS_KEY']}', REGION 'us-east-1', ENDPOINT '{host}', "
        "URL_STYLE 'path', USE_SSL false)"
    )
    got = con.sql(
        f"SELECT count(*) FROM read_parquet('{store.uri}/trials/run_id=*/part-*.parquet', hive_partitioning=true)"
    ).fetchone()
    assert got == (10,)


def test_wrong_credentials_are_refused_by_the_server(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = open_store(f"s3://{s3.bucket}/it-bad", endpoint=s3.endpoint)
    with pytest.raises(Exception, match="SignatureDoesNotMatch|403|Forbidden|InvalidAccessKeyId"):
        store.append("trials", "r1", _rows(1))


def test_the_store_pickles_without_credentials(s3: S3Server) -> None:
    import os
    import pickle

    store = open_store(f"s3://{s3.bucket}/it-{uuid.uuid4().hex[:8]}", endpoint=s3.endpoint)
    store.append("trials", "r1", _rows(3))
    blob = pickle.dumps(store)
    assert os.environ["AWS_SECRET_ACCESS_KEY"].encode() not in blob
    assert pickle.loads(blob).read("trials", "r1").num_rows == 3
    assert "secret" not in repr(store).lower()
