"""The S3 backend: AWS S3 or any S3-compatible service (MinIO, Ceph RGW, nanio, ...).

Objects are written and listed with boto3; DuckDB reads them natively through its httpfs
extension (the ``duckdb-extension-httpfs`` wheel, loaded from the package's file, so no
download is ever attempted); pyarrow reads them through :meth:`S3ResultStore.arrow_filesystem`.

Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
/``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` and ``~/.aws``, instance or pod roles). archlab
keeps them in memory only: it hands them to DuckDB as a temporary (in-memory) secret and to
pyarrow as constructor arguments, and never writes or logs them.

Compatibility settings handled here, so users need none:

* checksums only when the operation requires them (botocore >= 1.36 and the AWS C++ SDK
  under pyarrow otherwise send CRC trailers or ``aws-chunked`` bodies that several
  S3-compatible servers store verbatim, which corrupts Parquet);
* path-style addressing by default (MinIO and most on-premise services);
* a region even when the service ignores it (DuckDB and SigV4 need one).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from store.layout import ObjectInfo
from store.result_store import ResultStore

if TYPE_CHECKING:
    import duckdb
    import pyarrow.fs as pafs

__all__ = ["S3ResultStore", "load_httpfs"]

_CHECKSUM_ENV = ("AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION")


class S3ResultStore(ResultStore):
    """Result store under ``s3://bucket/prefix``.

    >>> s = S3ResultStore("s3://lab/sweeps", endpoint="http://minio:9000")   # doctest: +SKIP
    """

    def __init__(
        self,
        uri: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        path_style: bool = True,
        session: Any = None,
    ) -> None:
        parts = urlsplit(uri)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"S3 store URI {uri!r}: expected s3://bucket[/prefix]")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.path_style = path_style
        import boto3

        self._session = session or boto3.Session()
        self.region = region or self._session.region_name or "us-east-1"
        self.endpoint = (
            endpoint
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
            or None
        )
        self._client: Any = None
        self._client_lock = threading.Lock()

    # A boto3 client is thread-safe once made; making one is not: one per store, lazily.
    @property
    def client(self) -> Any:
        if self._client is not None:
            return self._client
        with self._client_lock:
            if self._client is not None:
                return self._client
            from botocore.config import Config

            cfg = Config(
                region_name=self.region,
                s3={"addressing_style": "path" if self.path_style else "virtual"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=max(10, self.io_threads),
                connect_timeout=10,
                read_timeout=120,
            )
            self._client = self._session.client("s3", endpoint_url=self.endpoint, config=cfg)
        return self._client

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    # ----------------------------------------------------------------- hooks
    def _list(self, prefix: str) -> list[ObjectInfo]:
        out: list[ObjectInfo] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix) + "/"
        )
        for page in pages:
            for o in page.get("Contents", ()):
                out.append(
                    ObjectInfo(self._rel(o["Key"]), int(o["Size"]), o["LastModified"].timestamp())
                )
        return out

    def _put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def _get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            return bytes(body.read())
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(self._url(key)) from None
            raise

    def _delete(self, keys: Sequence[str]) -> None:
        keys = list(keys)
        for i in range(0, len(keys), 1000):
            batch = [{"Key": self._key(k)} for k in keys[i : i + 1000]]
            resp = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            errors = [e for e in resp.get("Errors", ()) if e.get("Code") != "NoSuchKey"]
            if errors:
                raise OSError(f"S3 delete failed for {len(errors)} objects, first: {errors[0]}")

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    # ----------------------------------------------------------------- readers
    def _frozen_credentials(self) -> Any:
        creds = self._session.get_credentials()
        if creds is None:
            raise PermissionError(
                f"no AWS credentials found for {self.uri}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE / ~/.aws/credentials)"
            )
        return creds.get_frozen_credentials()

    def _duckdb_setup(self, con: duckdb.DuckDBPyConnection, name: str = "archlab_store") -> None:
        load_httpfs(con)
        c = self._frozen_credentials()
        endpoint = self.client.meta.endpoint_url
        u = urlsplit(endpoint)
        items = {
            "TYPE": "s3",
            "KEY_ID": c.access_key,
            "SECRET": c.secret_key,
            "REGION": self.region,
            "ENDPOINT": u.netloc,
            "URL_STYLE": "path" if self.path_style else "vhost",
            "USE_SSL": "true" if u.scheme == "https" else "false",
            "SCOPE": f"s3://{self.bucket}",
        }
        if c.token:
            items["SESSION_TOKEN"] = c.token
        body = ", ".join(
            f"{k} {v}" if k in ("TYPE", "USE_SSL") else f"{k} {_sql_str(v)}"
            for k, v in items.items()
        )
        # TEMPORARY: lives in this connection's memory only, never in DuckDB's secret folder.
        con.execute(f"CREATE OR REPLACE TEMPORARY SECRET {name} ({body})")

    def arrow_filesystem(self) -> pafs.FileSystem:
        """A ``pyarrow.fs.S3FileSystem`` for this store (paths are ``bucket/key``)."""
        for var in _CHECKSUM_ENV:  # the AWS C++ SDK reads these when pyarrow initialises it
            os.environ.setdefault(var, "WHEN_REQUIRED")
        import pyarrow.fs as pafs

        c = self._frozen_credentials()
        u = urlsplit(self.client.meta.endpoint_url)
        return pafs.S3FileSystem(
            access_key=c.access_key,
            secret_key=c.secret_key,
            session_token=c.token,
            region=self.region,
            endpoint_override=u.netloc,
            scheme=u.scheme or "https",
            force_virtual_addressing=not self.path_style,
        )

    def __getstate__(self) -> dict[str, Any]:  # picklable for Slurm workers: no client, no secrets
        state = dict(self.__dict__)
        state.update(_session=None, _client=None, _client_lock=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import boto3

        self.__dict__.update(state)
        self._session = boto3.Session()
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        ep = f", endpoint={self.endpoint!r}" if self.endpoint else ""
        return f"S3ResultStore({self.uri!r}{ep})"


def load_httpfs(con: duckdb.DuckDBPyConnection) -> None:
    """Load DuckDB's httpfs extension without ever downloading: from the
    ``duckdb-extension-httpfs`` wheel matching the installed DuckDB, else from DuckDB's own
    extension folder. Raises with the pip command to run when neither has it."""
    import duckdb

    con.execute("SET autoinstall_known_extensions = false")
    version = duckdb.__version__
    try:
        import duckdb_extension_httpfs

        base = os.path.dirname(duckdb_extension_httpfs.__file__)
        path = os.path.join(base, "extensions", f"v{version}", "httpfs.duckdb_extension")
        if os.path.exists(path):
            con.execute(f"LOAD {_sql_str(path)}")
            return
    except ImportError:
        pass
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error as e:
        raise RuntimeError(
            f"DuckDB {version} cannot read s3:// without its httpfs extension: "
            f"pip install duckdb-extension-httpfs=={version} ({e})"
        ) from None


def _sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"
