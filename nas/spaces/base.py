"""The search-space interface every strategy works through (pure: no I/O, no torch).

A space knows how architectures of one ``arch_kind`` are written, validated, hashed
(isomorphism-invariant), sampled, mutated and recombined. Strategies never parse
architecture text themselves.

Two levels:

* :class:`SearchSpace` — the protocol every space implements, including open spaces such as
  NADER's block graphs, whose members cannot be enumerated.
* :class:`CategoricalSpace` — a product of per-position choices (NAS-Bench-201 cells: 6 edges
  x 5 ops; NAS-Bench-Macro: 8 layers x 3 blocks; Channel-Bench-Macro: 7 layers x 4 widths).
  It adds what LAPT needs (named positions with their candidate choices, restriction to a
  refined sub-space) and what LLMatic needs (network descriptors with declared bounds).

Example::

    >>> import numpy as np
    >>> from nas.spaces import NB201Space
    >>> s = NB201Space()
    >>> a = s.sample(np.random.default_rng(0))
    >>> s.validate(a) == a and len(s.arch_hash(a)) == 16
    True
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np

from nas.records import content_hash

__all__ = ["Allowed", "CategoricalSpace", "Position", "SearchSpace", "SpaceError"]

# Per position, the set of choices a refined space admits (None = every choice).
Allowed = Sequence[frozenset[str]] | None


class SpaceError(ValueError):
    """An architecture text is not a member of the space; the message says what to fix."""


@runtime_checkable
class SearchSpace(Protocol):
    """What a strategy needs from any space.

    ``kind`` is the ``Candidate.arch_kind`` of its members. ``size`` is the number of
    distinct architecture texts, or ``None`` for open spaces.
    """

    kind: str

    @property
    def size(self) -> int | None:
        """Number of distinct architecture texts, or None for an open space."""
        ...

    def validate(self, arch: str) -> str:
        """The normalized text of ``arch``; raises :class:`SpaceError` naming the problem."""
        ...

    def arch_hash(self, arch: str) -> str:
        """Hex hash equal exactly for architectures that compute the same network."""
        ...

    def sample(self, rng: np.random.Generator) -> str:
        """A random member (the space's prior)."""
        ...

    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        """A single-edit neighbour of ``arch`` (different text)."""
        ...

    def crossover(self, a: str, b: str, rng: np.random.Generator) -> str:
        """A child mixing ``a`` and ``b``."""
        ...

    def describe(self, arch: str) -> str:
        """Multi-line text for prompts and logs."""
        ...


@dataclass(frozen=True)
class Position:
    """One decision of a categorical space: a cell edge or a network layer."""

    name: str  # e.g. "edge 2<-1" or "layer 3"
    choices: tuple[str, ...]  # the candidate values (operators, blocks, widths)
    source: str = ""  # where its input comes from, when the space has input sources


class CategoricalSpace(ABC):
    """A product space ``positions[0].choices x ... x positions[-1].choices``.

    Subclasses give ``kind``, ``positions``, :meth:`encode`/:meth:`decode` and the network
    descriptors; everything else (sampling, single-edit mutation, uniform crossover,
    restriction to a refined space, enumeration) is shared.
    """

    kind: str
    positions: tuple[Position, ...]
    # (lo, hi) of (width/depth ratio, FLOPs estimate): LLMatic normalizes with these
    feature_bounds: tuple[tuple[float, float], tuple[float, float]]

    @abstractmethod
    def encode(self, values: Sequence[str]) -> str:
        """Per-position values -> architecture text (no validation of the values)."""

    @abstractmethod
    def decode(self, arch: str) -> tuple[str, ...]:
        """Architecture text -> per-position values; raises :class:`SpaceError`."""

    @abstractmethod
    def features(self, arch: str) -> tuple[float, float]:
        """(width/depth ratio, FLOPs estimate) of ``arch``, inside ``feature_bounds``."""

    def canonical(self, arch: str) -> str:
        """Text equal exactly for isomorphic architectures (default: the text itself)."""
        return self.validate(arch)

    # -- shared ----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        n = 1
        for p in self.positions:
            n *= len(p.choices)
        return n

    def validate(self, arch: str) -> str:
        values = self.decode(arch)
        for p, v in zip(self.positions, values, strict=True):
            if v not in p.choices:
                raise SpaceError(
                    f"{self.kind}: {p.name} has value {v!r}; choose one of {', '.join(p.choices)}"
                )
        return self.encode(values)

    def arch_hash(self, arch: str) -> str:
        return _cached_hash(self, arch)

    def _choices(self, i: int, allowed: Allowed) -> tuple[str, ...]:
        if allowed is None:
            return self.positions[i].choices
        keep = tuple(c for c in self.positions[i].choices if c in allowed[i])
        return keep or self.positions[i].choices

    def sample(self, rng: np.random.Generator, allowed: Allowed = None) -> str:
        """Uniform over the (refined) space: one independent draw per position."""
        vals = []
        for i in range(len(self.positions)):
            ch = self._choices(i, allowed)
            vals.append(ch[int(rng.integers(len(ch)))])
        return self.encode(vals)

    def mutate(self, arch: str, rng: np.random.Generator, allowed: Allowed = None) -> str:
        """Change exactly one position to a different (allowed) value.

        Returns ``arch`` unchanged only when no position has an alternative.
        """
        vals = list(self.decode(arch))
        movable = [i for i in range(len(vals)) if len(set(self._choices(i, allowed)) - {vals[i]})]
        if not movable:
            return self.encode(vals)
        i = movable[int(rng.integers(len(movable)))]
        alts = [c for c in self._choices(i, allowed) if c != vals[i]]
        vals[i] = alts[int(rng.integers(len(alts)))]
        return self.encode(vals)

    def crossover(self, a: str, b: str, rng: np.random.Generator) -> str:
        """Uniform crossover: each position from ``a`` or ``b`` with probability 1/2."""
        va, vb = self.decode(a), self.decode(b)
        pick = rng.random(len(va)) < 0.5
        return self.encode([x if p else y for x, y, p in zip(va, vb, pick, strict=True)])

    def neighbours(self, arch: str, allowed: Allowed = None) -> list[str]:
        """Every single-edit neighbour (in position, then choice order)."""
        vals = list(self.decode(arch))
        out = []
        for i in range(len(vals)):
            for c in self._choices(i, allowed):
                if c != vals[i]:
                    out.append(self.encode([*vals[:i], c, *vals[i + 1 :]]))
        return out

    def enumerate(self, allowed: Allowed = None) -> Iterator[str]:
        """Every member of the (refined) space, in lexicographic choice order."""
        per = [self._choices(i, allowed) for i in range(len(self.positions))]
        for vals in itertools.product(*per):
            yield self.encode(vals)

    def refined_size(self, allowed: Allowed) -> int:
        n = 1
        for i in range(len(self.positions)):
            n *= len(self._choices(i, allowed))
        return n

    def describe(self, arch: str) -> str:
        vals = self.decode(arch)
        return "\n".join(f"{p.name}: {v}" for p, v in zip(self.positions, vals, strict=True))


@lru_cache(maxsize=1 << 16)
def _cached_hash(space: CategoricalSpace, arch: str) -> str:
    return content_hash(space.kind, space.canonical(arch))
