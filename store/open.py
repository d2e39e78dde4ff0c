"""``open_store(uri)``: the store at a path or ``s3://`` URI (the only module that knows every
backend, so the base module :mod:`store.result_store` imports none of them)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from store.result_store import LocalResultStore, ResultStore

__all__ = ["StoreConfig", "open_store"]


@dataclass(frozen=True)
class StoreConfig:
    """Section ``store``: where a run's tables live."""

    uri: str = ""  # "" = <run_dir>/tables; or a directory; or s3://bucket/prefix
    s3_endpoint: str = ""  # endpoint URL for MinIO/Ceph/any S3-compatible service
    s3_region: str = "us-east-1"  # region (needed even for MinIO)
    s3_path_style: bool = True  # path-style addressing (MinIO and most on-prem services)
    retry_s: float = 600.0  # a failed write is retried (back-off + jitter) this long, then raised

    def validate(self) -> None:
        """Raise ``ValueError`` naming the key (``store.<field>``) and the fix."""
        if not self.retry_s >= 0:
            raise ValueError(f"'store.retry_s' is {self.retry_s!r}: use seconds >= 0 "
                             "(0 = no retry)")  # fmt: skip
        if "://" in self.uri and not self.uri.startswith(("s3://", "file://")):
            raise ValueError(f"'store.uri' is {self.uri!r}: use a directory, file:///path or "
                             "s3://bucket/prefix")  # fmt: skip

    def open(self, default_uri: str | os.PathLike[str]) -> ResultStore:
        """The store this section names (``default_uri`` when ``uri`` is empty)."""
        uri = self.uri or os.fspath(default_uri)
        if uri.startswith("s3://"):
            return open_store(uri, endpoint=self.s3_endpoint or None, region=self.s3_region,
                              path_style=self.s3_path_style)  # fmt: skip
        return open_store(uri)


def open_store(
    uri: str | os.PathLike[str],
    *,
    endpoint: str | None = None,
    region: str | None = None,
    path_style: bool = True,
) -> ResultStore:
    """The store at ``uri``: ``s3://bucket/prefix`` (S3 or any S3-compatible service at
    ``endpoint``, e.g. ``http://minio.example:9000``), or a directory (``file://`` optional).

    S3 credentials come from the usual AWS sources (environment, ``~/.aws``, instance
    roles); archlab never writes them anywhere. ``endpoint``/``region`` default to the AWS
    settings (``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``).
    """
    text = os.fspath(uri)
    if text.startswith("s3://"):
        from store.s3 import S3ResultStore

        return S3ResultStore(text, endpoint=endpoint, region=region, path_style=path_style)
    if "://" in text and not text.startswith("file://"):
        raise ValueError(f"store URI {text!r}: use a directory, file:///path or s3://bucket/prefix")
    return LocalResultStore(text.removeprefix("file://"))
