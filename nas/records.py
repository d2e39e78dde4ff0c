"""Typed records that cross every boundary: what is evaluated and what came back.

A :class:`Candidate` is a proposal (architecture + training recipe + seed); its ``id`` is a
content hash, so the same proposal made twice (by a resumed controller, by two strategies)
is recognised. A :class:`TrialRecord` is the outcome of evaluating one candidate; a failure
is a record with a state and an error text, never an exception.

Both are frozen dataclasses with ``validate()`` and a flat Parquet-row round trip
(``to_row``/``from_row``) whose columns match ``store.schemas``.

Example::

    >>> c = Candidate(arch_kind="nb201", arch="|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|none~2|",
    ...               arch_hash="abc", recipe={"epochs": 3}, seed=0)
    >>> Candidate.from_row(c.to_row()) == c
    True
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = [
    "Candidate",
    "EpochMetrics",
    "Origin",
    "RecordError",
    "TrialCost",
    "TrialRecord",
    "TrialState",
    "canonical_json",
    "content_hash",
]


class RecordError(ValueError):
    """A record violates its invariants; the message names the field and the fix."""


class TrialState(str, enum.Enum):
    """Terminal state of one evaluation."""

    COMPLETE = "COMPLETE"  # trained/looked up, metrics are valid
    FAILED = "FAILED"  # raised, OOM, node failure after retries: see ``error``
    DIVERGED = "DIVERGED"  # NaN/inf loss or loss above the divergence threshold
    TIMEOUT = "TIMEOUT"  # hit its time budget; ``metrics`` hold the last epoch
    PREEMPTED = "PREEMPTED"  # preempted and not resumed (retries exhausted)
    CANCELLED = "CANCELLED"  # cancelled outside archlab every time it ran (not the architecture)
    DUPLICATE = "DUPLICATE"  # isomorphic to an already evaluated candidate; not trained
    INVALID = "INVALID"  # the architecture failed validation; not trained
    PRUNED = "PRUNED"  # stopped at a rung by the fidelity schedule (not the architecture's fault)

    @property
    def is_failure(self) -> bool:
        return self is not TrialState.COMPLETE


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the byte form that hashes are taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def content_hash(*parts: str, length: int = 16) -> str:
    """Hex SHA-256 prefix of the parts joined by a unit separator."""
    h = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return h[:length]


@dataclass(frozen=True)
class Origin:
    """Where a candidate came from (all free text; empty when not applicable)."""

    strategy: str = ""  # e.g. "random", "rea", "nader"
    agent: str = ""  # e.g. "modifier", "rule-based-designer", "mutation"
    suggestion: str = ""  # the inspiration/suggestion applied, if any
    prompt: str = ""  # prompt id/version used, if any
    fallback: str = ""  # what an agent did instead of an unusable LLM answer, if anything


@dataclass(frozen=True)
class Candidate:
    """One proposal to evaluate.

    ``arch`` is the architecture in the text encoding named by ``arch_kind`` (an NB201 arch
    string, a block file, a macro/channel benchmark code); ``arch_hash`` is its canonical,
    isomorphism-invariant hash supplied by the space that made it. ``id`` is derived:
    ``content_hash(arch_kind, arch_hash, canonical_json(recipe), seed)``.
    """

    arch_kind: str
    arch: str
    arch_hash: str
    recipe: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    parents: tuple[str, ...] = ()
    origin: Origin = field(default_factory=Origin)
    created_at: float = field(default_factory=time.time, compare=False)

    @property
    def id(self) -> str:
        return content_hash(
            self.arch_kind, self.arch_hash, canonical_json(dict(self.recipe)), str(self.seed)
        )

    def validate(self) -> Candidate:
        if not self.arch_kind:
            raise RecordError(
                "Candidate.arch_kind is empty: name the encoding, e.g. 'nb201' or 'block'"
            )
        if not self.arch.strip():
            raise RecordError("Candidate.arch is empty: give the architecture text")
        if not self.arch_hash:
            raise RecordError("Candidate.arch_hash is empty: hash the canonical architecture first")
        if self.seed < 0:
            raise RecordError(f"Candidate.seed={self.seed} is negative: use a seed >= 0")
        if any(not p for p in self.parents):
            raise RecordError("Candidate.parents holds an empty id")
        try:
            canonical_json(dict(self.recipe))
        except (TypeError, ValueError) as e:  # pragma: no cover - default=str accepts most
            raise RecordError(f"Candidate.recipe is not JSON-serializable: {e}") from e
        return self

    def to_row(self) -> dict[str, Any]:
        return {
            "candidate_id": self.id,
            "arch_kind": self.arch_kind,
            "arch": self.arch,
            "arch_hash": self.arch_hash,
            "recipe": canonical_json(dict(self.recipe)),
            "seed": self.seed,
            "parents": list(self.parents),
            "origin_strategy": self.origin.strategy,
            "origin_agent": self.origin.agent,
            "origin_suggestion": self.origin.suggestion,
            "origin_prompt": self.origin.prompt,
            "origin_fallback": self.origin.fallback or None,
            "created_at": self.created_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Candidate:
        c = cls(
            arch_kind=str(row["arch_kind"]),
            arch=str(row["arch"]),
            arch_hash=str(row["arch_hash"]),
            recipe=json.loads(row["recipe"]) if row.get("recipe") else {},
            seed=int(row["seed"]),
            parents=tuple(row.get("parents") or ()),
            origin=Origin(
                strategy=str(row.get("origin_strategy") or ""),
                agent=str(row.get("origin_agent") or ""),
                suggestion=str(row.get("origin_suggestion") or ""),
                prompt=str(row.get("origin_prompt") or ""),
                fallback=str(row.get("origin_fallback") or ""),
            ),
            created_at=float(row.get("created_at") or 0.0),
        )
        if "candidate_id" in row and row["candidate_id"] != c.id:
            raise RecordError(
                f"candidate_id {row['candidate_id']!r} does not match the content hash {c.id!r}: "
                "the row was edited or written by an incompatible version"
            )
        return c


@dataclass(frozen=True)
class EpochMetrics:
    """One point of a learning curve (losses are mean cross-entropy, accuracies in [0, 1])."""

    epoch: int  # 1-based
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float  # learning rate used during this epoch (at its start)
    seconds: float  # wall seconds of this epoch (train + validation)

    def to_row(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EpochMetrics:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class TrialCost:
    """What an evaluation cost and what the architecture costs to run."""

    params: int = 0  # trainable parameters
    flops: int = 0  # forward FLOPs for one input image (2 x MACs of conv/linear + others)
    macs: int = 0  # multiply-adds of conv and linear layers (NAS-Bench-201 convention)
    wall_seconds: float = 0.0  # wall time of the evaluation
    gpu_seconds: float = 0.0  # accelerator time (0 on CPU); simulated for table lookups
    llm_tokens_in: int = 0  # LLM prompt tokens spent to produce this candidate
    llm_tokens_out: int = 0  # LLM completion tokens spent to produce this candidate
    llm_cost_usd: float = 0.0  # dollars of those calls


_METRIC_KEYS = ("val_acc", "test_acc", "train_acc", "train_loss", "val_loss")


@dataclass(frozen=True)
class TrialRecord:
    """The outcome of evaluating one candidate.

    ``metrics`` holds at least ``val_acc`` for COMPLETE trials (accuracies in [0, 1]).
    ``test_acc`` is attached for reporting after selection and must never steer a search.
    """

    candidate_id: str
    state: TrialState
    metrics: Mapping[str, float] = field(default_factory=dict)
    cost: TrialCost = field(default_factory=TrialCost)
    curve: tuple[EpochMetrics, ...] = ()
    error: str = ""
    attempt: int = 1
    job_id: str = ""
    evaluator: str = ""  # e.g. "train", "table:nb201"
    started_at: float = 0.0
    finished_at: float = 0.0
    fidelity_epochs: int = 0  # training epochs the metrics stand for (0 = the recipe's length)
    fidelity_max: int = 0  # the fidelity schedule's full length (0 = no schedule ran)

    @property
    def val_acc(self) -> float | None:
        v = self.metrics.get("val_acc")
        return None if v is None else float(v)

    @property
    def is_final(self) -> bool:
        """A full-fidelity outcome: what a strategy may learn as the architecture's result
        (not PRUNED, and not a COMPLETE result of fewer epochs than the schedule's full)."""
        if self.state is TrialState.PRUNED:
            return False
        return not (self.fidelity_max and self.fidelity_epochs < self.fidelity_max)

    def for_strategy(self) -> TrialRecord:
        """What a strategy is told by default: a final record as it is; a pruned or partial
        one as PRUNED *without metrics*, so a low-fidelity value can never be learned as if
        it were the architecture's result."""
        if self.is_final:
            return self
        why = self.error or (
            f"stopped after {self.fidelity_epochs} of {self.fidelity_max} epochs (fidelity rung)"
        )
        return replace(self, state=TrialState.PRUNED, metrics={}, curve=(), error=why)

    def with_(self, **changes: Any) -> TrialRecord:
        """A copy with fields replaced (records are frozen)."""
        return replace(self, **changes)

    def validate(self) -> TrialRecord:
        if not self.candidate_id:
            raise RecordError("TrialRecord.candidate_id is empty")
        if not isinstance(self.state, TrialState):
            raise RecordError(f"TrialRecord.state={self.state!r} is not a TrialState")
        for k, v in self.metrics.items():
            if not isinstance(v, (int, float)) or math.isnan(float(v)):
                raise RecordError(f"TrialRecord.metrics[{k!r}]={v!r} is not a number")
            if k.endswith("_acc") and not 0.0 <= float(v) <= 1.0:
                raise RecordError(
                    f"TrialRecord.metrics[{k!r}]={v} is outside [0, 1]: store fractions, not %"
                )
        if self.state is TrialState.COMPLETE and "val_acc" not in self.metrics:
            raise RecordError("a COMPLETE TrialRecord needs metrics['val_acc']")
        if self.state.is_failure and self.state not in (TrialState.DUPLICATE,) and not self.error:
            raise RecordError(f"a {self.state.value} TrialRecord needs an error text saying why")
        if self.attempt < 1:
            raise RecordError(f"TrialRecord.attempt={self.attempt} must be >= 1")
        if self.fidelity_epochs < 0 or self.fidelity_max < 0:
            raise RecordError("TrialRecord.fidelity_epochs/fidelity_max must be >= 0")
        if self.fidelity_max and self.fidelity_epochs > self.fidelity_max:
            raise RecordError(
                f"TrialRecord.fidelity_epochs={self.fidelity_epochs} is above fidelity_max="
                f"{self.fidelity_max}: a result cannot stand for more epochs than the schedule"
            )
        if self.finished_at and self.started_at and self.finished_at < self.started_at:
            raise RecordError("TrialRecord.finished_at is before started_at")
        return self

    def to_row(self) -> dict[str, Any]:
        extra = {k: float(v) for k, v in self.metrics.items() if k not in _METRIC_KEYS}
        row: dict[str, Any] = {
            "candidate_id": self.candidate_id,
            "state": self.state.value,
            **{k: (float(self.metrics[k]) if k in self.metrics else None) for k in _METRIC_KEYS},
            "extra_metrics": canonical_json(extra),
            "params": self.cost.params,
            "flops": self.cost.flops,
            "macs": self.cost.macs,
            "wall_seconds": self.cost.wall_seconds,
            "gpu_seconds": self.cost.gpu_seconds,
            "llm_tokens_in": self.cost.llm_tokens_in,
            "llm_tokens_out": self.cost.llm_tokens_out,
            "llm_cost_usd": self.cost.llm_cost_usd,
            "epochs_run": len(self.curve),
            "error": self.error,
            "attempt": self.attempt,
            "job_id": self.job_id,
            "evaluator": self.evaluator,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "fidelity_epochs": self.fidelity_epochs or None,
            "fidelity_max": self.fidelity_max or None,
        }
        return row

    def epoch_rows(self) -> list[dict[str, Any]]:
        """Rows of the ``epochs`` table (learning curve) for this trial."""
        return [
            {"candidate_id": self.candidate_id, "attempt": self.attempt, **e.to_row()}
            for e in self.curve
        ]

    @classmethod
    def from_row(cls, row: Mapping[str, Any], curve: tuple[EpochMetrics, ...] = ()) -> TrialRecord:
        metrics: dict[str, float] = {
            k: float(row[k]) for k in _METRIC_KEYS if row.get(k) is not None
        }
        if row.get("extra_metrics"):
            metrics.update({k: float(v) for k, v in json.loads(row["extra_metrics"]).items()})
        return cls(
            candidate_id=str(row["candidate_id"]),
            state=TrialState(row["state"]),
            metrics=metrics,
            cost=TrialCost(
                params=int(row.get("params") or 0),
                flops=int(row.get("flops") or 0),
                macs=int(row.get("macs") or 0),
                wall_seconds=float(row.get("wall_seconds") or 0.0),
                gpu_seconds=float(row.get("gpu_seconds") or 0.0),
                llm_tokens_in=int(row.get("llm_tokens_in") or 0),
                llm_tokens_out=int(row.get("llm_tokens_out") or 0),
                llm_cost_usd=float(row.get("llm_cost_usd") or 0.0),
            ),
            curve=curve,
            error=str(row.get("error") or ""),
            attempt=int(row.get("attempt") or 1),
            job_id=str(row.get("job_id") or ""),
            evaluator=str(row.get("evaluator") or ""),
            started_at=float(row.get("started_at") or 0.0),
            finished_at=float(row.get("finished_at") or 0.0),
            fidelity_epochs=int(row.get("fidelity_epochs") or 0),
            fidelity_max=int(row.get("fidelity_max") or 0),
        )
