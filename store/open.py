"""``open_store(uri)``: the store at a path or ``s3://`` URI (the only module that knows every
backend, so the base module :mod:`store.result_store` imports none of them)."""

from __future__ import annotations

import os

from store.result_store import LocalResultStore, ResultStore

__all__ = ["open_store"]


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
