"""Synthetic but realistic runs, written through the real store, for tests and previews.

``write_fixture_run(root, profile=...)`` makes ``root/<run_id>/`` with ``config.yaml``,
``manifest.json`` and every table, so each report section has data:

* ``"full"``: NADER (block candidates in a modification tree, ``tree_node`` events),
  LLMatic (``archive`` snapshots of its network and prompt archives), LAPT (``principles``
  events) and random candidates; LLM calls of every agent; failures of every kind;
  per-epoch learning curves.
* ``"benchmark"``: many NAS-Bench-201 cells "looked up in a table" (params, FLOPs,
  validation/test accuracy, short curves), one strategy, no LLM.
* ``"plain"``: a few NB201 candidates trained by a random search, nothing else (what a
  demo run holds): the report must say "no data" for the LLM, tree, archive and
  principle sections.

Metrics come from a simple made-up accuracy model (more convolutions help, ``none`` on
the path hurts) with seeded noise; nothing here is a real measurement.

    >>> run_dir = write_fixture_run("/tmp/fx", profile="benchmark", candidates=500)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from nas.records import (
    Candidate,
    EpochMetrics,
    Origin,
    TrialCost,
    TrialRecord,
    TrialState,
    canonical_json,
    content_hash,
)

__all__ = ["PROFILES", "write_fixture_run"]

PROFILES = ("full", "benchmark", "plain")
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
T0 = 1_760_000_000.0  # a fixed clock, so fixtures are reproducible

_FAILURES = (
    (TrialState.FAILED, "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"),
    (TrialState.INVALID, "GraphError: node 4 Conv2d: shape mismatch (B,C,H,W) vs (B,2C,H,W)"),
    (TrialState.DIVERGED, "DivergedError: loss is nan at epoch 3"),
    (TrialState.TIMEOUT, "TimeoutError: time budget 3600 s exceeded at epoch 41"),
    (TrialState.FAILED, "ValueError: Concat of inputs with different spatial sizes"),
    (TrialState.PREEMPTED, "Preempted: node preempted 3 times, retries exhausted"),
)

_SUGGESTIONS = (
    "add a squeeze-and-excitation branch",
    "replace the 3x3 conv with a depthwise-separable conv",
    "add a 1x1 bottleneck before the 3x3 conv",
    "widen the residual path",
    "add a parallel dilated conv branch",
    "insert a GELU between the convs",
    "use a 5x5 kernel in the second conv",
    "add a skip connection around the two convs",
)

_PRINCIPLES = (
    "Keep at least one 3x3 convolution on the path from input to output.",
    "Avoid 'none' on the edge into the output node.",
    "1x1 convolutions are cheap and rarely hurt when paired with a 3x3.",
    "Average pooling helps only next to a convolution on the same node.",
    "Skip connections into the last node stabilise training of deep cells.",
    "Cells with more than four convolutions gain little for their cost.",
)

_AGENTS = {
    "nader": (("reader", 1800, 400), ("proposer", 2400, 600), ("modifier", 3200, 900)),
    "llmatic": (("mutation", 1500, 700), ("crossover", 2200, 800)),
    "lapt": (("lapt", 4000, 1200),),
}


def write_fixture_run(
    root: str | Path,
    *,
    profile: str = "full",
    candidates: int = 80,
    seed: int = 0,
    run_id: str | None = None,
    strategy: str = "rea",
    epochs: int = 12,
) -> Path:
    """Write one synthetic run under ``root``; returns its directory (see module doc)."""
    from store import open_store

    if profile not in PROFILES:
        raise ValueError(
            f"unknown fixture profile {profile!r}; choose one of: {', '.join(PROFILES)}"
        )
    rng = np.random.default_rng(seed)
    rid = run_id or f"fixture-{profile}-{seed}"
    run_dir = Path(root).resolve() / rid
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    gen = _Generator(rng, profile, strategy, epochs)
    gen.run(candidates)
    store = open_store(run_dir / "tables")
    for table, rows in gen.tables.items():
        for chunk in _chunks(rows, 5):  # several files per table, like a real run
            store.append(table, rid, chunk)
    cfg = {
        "experiment": {"name": f"fixture-{profile}", "seed": seed, "run_root": str(root)},
        "space": {"kind": "nb201", "nb201_channels": 16, "nb201_cells": 5},
        "strategy": {"name": strategy},  # the "full" profile's rows come from every strategy
        "train": {
            "evaluator": "table" if profile == "benchmark" else "train",
            "dataset": "cifar10",
            "epochs": epochs,
        },
        "budget": {"candidates": candidates},
        "store": {"uri": ""},
    }
    import yaml

    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    manifest = {
        "run_id": rid,
        "archlab_version": "fixture",
        "code_version": "fixture",
        "config_hash": content_hash(canonical_json(cfg)),
        "cluster": "fixture",
        "created": T0,
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return run_dir


def _chunks(rows: list[dict[str, Any]], n: int) -> list[list[dict[str, Any]]]:
    if not rows:
        return []
    size = max(1, math.ceil(len(rows) / n))
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _arch(ops: tuple[str, ...]) -> str:
    k = 0
    nodes = []
    for node in (1, 2, 3):
        items = []
        for src in range(node):
            items.append(f"{ops[k]}~{src}")
            k += 1
        nodes.append("|" + "|".join(items) + "|")
    return "+".join(nodes)


def _nb201_cost(ops: tuple[str, ...], c: int = 16, n: int = 5) -> tuple[int, int]:
    """(params, macs) of an NB201 network, close to the real counts (CIFAR-10, 32x32)."""
    params = 3 * 9 * c + 2 * c + (4 * c) * 10 + 10 + 2 * 4 * c
    macs = 3 * 9 * c * 32 * 32 + 4 * c * 10
    for stage, (w, hw) in enumerate(((c, 32 * 32), (2 * c, 16 * 16), (4 * c, 8 * 8))):
        if stage:
            cin = w // 2
            params += 9 * cin * w + 9 * w * w + cin * w + 4 * w
            macs += (9 * cin * w + 9 * w * w + cin * w) * hw
        for op in ops:
            if op == "nor_conv_3x3":
                params += 9 * w * w + 2 * w
                macs += n * 9 * w * w * hw
            elif op == "nor_conv_1x1":
                params += w * w + 2 * w
                macs += n * w * w * hw
    return params, macs


def _score(ops: tuple[str, ...]) -> float:
    s = 0.62 + 0.05 * ops.count("nor_conv_3x3") + 0.02 * ops.count("nor_conv_1x1")
    s += 0.01 * ops.count("skip_connect") + 0.005 * ops.count("avg_pool_3x3")
    if all(o == "none" for o in (ops[3], ops[4], ops[5])):
        s = 0.1  # nothing reaches the output node
    return min(s, 0.945)


class _Generator:
    def __init__(self, rng: np.random.Generator, profile: str, strategy: str, epochs: int) -> None:
        self.rng = rng
        self.profile = profile
        self.strategy = strategy
        self.epochs = epochs
        self.tables: dict[str, list[dict[str, Any]]] = {
            t: [] for t in ("candidates", "trials", "epochs", "llm_calls", "experiences", "events")
        }
        self.clock = T0
        self.tree: list[tuple[str, float]] = []  # nader nodes: (candidate_id, val_acc)
        self.archive: dict[tuple[int, int], tuple[float, str]] = {}
        self.prompt_archive: dict[tuple[int, int], tuple[float, str]] = {}
        self.n_events = 0
        self.n_calls = 0

    # ------------------------------------------------------------------ driver
    def run(self, n: int) -> None:
        strategies = (
            ["nader", "llmatic", "lapt", "random"] if self.profile == "full" else [self.strategy]
        )
        if self.profile == "plain":
            strategies = ["random"]
        if self.profile == "full":
            self._event("run_started", {"strategies": strategies})
        for i in range(n):
            strat = strategies[i % len(strategies)]
            if strat == "lapt" and (i // len(strategies)) % 5 == 0:
                self._principles(i // (5 * len(strategies)))
            self._one(i, strat)
            if strat == "llmatic" and (i // len(strategies)) % 4 == 3:
                self._archive_snapshot(i)
        if self.profile == "full":
            self._archive_snapshot(n)

    # ------------------------------------------------------------------ one candidate
    def _one(self, i: int, strat: str) -> None:
        rng = self.rng
        self.clock += float(rng.uniform(20, 90))
        ops = tuple(NB201_OPS[int(k)] for k in rng.integers(0, 5, size=6))
        parents: tuple[str, ...] = ()
        suggestion = ""
        agent = {"nader": "modifier", "llmatic": "mutation", "lapt": "lapt"}.get(strat, "")
        if strat == "llmatic" and i % 3 == 0:
            agent = "crossover"
        if strat == "nader":
            parent = self._pick_parent()
            parents = (parent,) if parent else ()
            suggestion = str(rng.choice(_SUGGESTIONS)) if parent else "seed block"
            arch_kind, arch = "block", self._block_text(i, ops)
        else:
            arch_kind, arch = "nb201", _arch(ops)
        recipe = {
            "epochs": self.epochs,
            "dataset": "cifar10",
            "lr": 0.1,
            "batch_size": 256,
            "skeleton": {"channels": 16, "cells": 5},
        }
        cand = Candidate(
            arch_kind=arch_kind,
            arch=arch,
            arch_hash=content_hash(arch, str(i)),
            recipe=recipe,
            seed=int(i % 3),
            parents=parents,
            origin=Origin(
                strategy=strat,
                agent=agent,
                suggestion=suggestion,
                prompt=self._prompt(strat, agent),
            ),
            created_at=self.clock,
        )
        cid = cand.id
        self.tables["candidates"].append(cand.to_row())
        tokens_in = tokens_out = 0
        usd = 0.0
        for name, tin, tout in _AGENTS.get(strat, ()):
            if name in ("mutation", "crossover") and name != agent:
                continue
            a, b, c = self._llm_call(name, tin, tout, cid)
            tokens_in, tokens_out, usd = tokens_in + a, tokens_out + b, usd + c
        params, macs = _nb201_cost(ops)
        if arch_kind == "block":  # NADER blocks are bigger and vary more
            params = int(params * rng.uniform(0.8, 2.5))
            macs = int(macs * rng.uniform(0.8, 2.5))
        fail_p = 0.02 if self.profile == "benchmark" else (0.0 if self.profile == "plain" else 0.12)
        started = self.clock + 1.0
        self.clock += float(rng.uniform(30, 300))
        cost = TrialCost(
            params=params,
            flops=2 * macs,
            macs=macs,
            wall_seconds=self.clock - started,
            gpu_seconds=(self.clock - started) * (0.0 if self.profile == "benchmark" else 0.95),
            llm_tokens_in=tokens_in,
            llm_tokens_out=tokens_out,
            llm_cost_usd=usd,
        )
        evaluator = "table:nb201" if self.profile == "benchmark" else "train"
        if rng.random() < fail_p:
            state, err = _FAILURES[int(rng.integers(0, len(_FAILURES)))]
            rec = TrialRecord(
                cid,
                state,
                cost=TrialCost(
                    wall_seconds=cost.wall_seconds,
                    llm_cost_usd=usd,
                    llm_tokens_in=tokens_in,
                    llm_tokens_out=tokens_out,
                ),
                error=err + "\nTraceback (most recent call last): ...",
                evaluator=evaluator,
                started_at=started,
                finished_at=self.clock,
            )
            val = None
        else:
            final = float(np.clip(_score(ops) + rng.normal(0, 0.02), 0.1, 0.96))
            if arch_kind == "block":
                final = float(np.clip(final + 0.02, 0.1, 0.965))
            curve = self._curve(final)
            test = float(np.clip(final - 0.004 + rng.normal(0, 0.006), 0.0, 1.0))
            rec = TrialRecord(
                cid,
                TrialState.COMPLETE,
                metrics={
                    "val_acc": curve[-1].val_acc,
                    "test_acc": test,
                    "train_acc": curve[-1].train_acc,
                    "train_loss": curve[-1].train_loss,
                    "val_loss": curve[-1].val_loss,
                },
                cost=cost,
                curve=curve,
                evaluator=evaluator,
                started_at=started,
                finished_at=self.clock,
                # the full profile ran under a fidelity schedule (its `fidelity` view has rows)
                fidelity_epochs=len(curve) if self.profile == "full" else 0,
                fidelity_max=len(curve) if self.profile == "full" else 0,
            )
            val = curve[-1].val_acc
        self.tables["trials"].append(rec.validate().to_row())
        self.tables["epochs"].extend(rec.epoch_rows())
        if strat == "nader":
            self._tree_node(cid, parents, suggestion, val, rec.state)
            if val is None or rng.random() < 0.3:
                self._experience(cid, rec, suggestion)
        if strat == "llmatic" and val is not None:
            self._archive_add(cid, ops, params, macs, val)
        if strat in ("nader", "llmatic", "lapt") and i % 7 == 0:
            self._llm_call("reflector", 2500, 300, "")

    def _prompt(self, strat: str, agent: str) -> str:
        if strat == "llmatic":  # LLMatic's prompt individual: prompt id @ temperature
            return f"p{int(self.rng.integers(0, 8))}@T{float(self.rng.uniform(0.2, 1.2)):.4f}"
        return f"{agent}@1" if agent else ""

    def _curve(self, final: float) -> tuple[EpochMetrics, ...]:
        out = []
        for e in range(1, self.epochs + 1):
            frac = 1 - math.exp(-4.0 * e / self.epochs)
            val = float(np.clip(0.1 + (final - 0.1) * frac / (1 - math.exp(-4.0)), 0, 1))
            if e == self.epochs:
                val = final
            train = float(np.clip(val + 0.03 * frac, 0, 1))
            out.append(
                EpochMetrics(
                    epoch=e,
                    train_loss=float(2.3 * (1 - train) + 0.05),
                    train_acc=train,
                    val_loss=float(2.3 * (1 - val) + 0.1),
                    val_acc=val,
                    lr=0.1 * 0.5 * (1 + math.cos(math.pi * (e - 1) / self.epochs)),
                    seconds=float(self.rng.uniform(5, 15)),
                )
            )
        return tuple(out)

    # ------------------------------------------------------------------ LLM calls
    def _llm_call(self, agent: str, tin: int, tout: int, cid: str) -> tuple[int, int, float]:
        self.n_calls += 1
        a = int(tin * self.rng.uniform(0.7, 1.3))
        b = int(tout * self.rng.uniform(0.7, 1.3))
        model = "gpt-4o" if agent in ("modifier", "lapt") else "gpt-4o-mini"
        price = (2.5e-6, 10e-6) if model == "gpt-4o" else (0.15e-6, 0.6e-6)
        usd = a * price[0] + b * price[1]
        status = "ok" if self.rng.random() > 0.03 else "rate_limit"
        self.tables["llm_calls"].append(
            {
                "call_id": f"call-{self.n_calls:05d}",
                "agent": agent,
                "model": model,
                "prompt_id": f"{agent}-v1",
                "tokens_in": a,
                "tokens_out": b,
                "cost_usd": usd,
                "latency_s": float(self.rng.uniform(0.5, 6.0)),
                "cache_hit": False,
                "status": status,
                "error": "" if status == "ok" else "429 Too Many Requests",
                "candidate_id": cid or None,
                "created_at": self.clock,
            }
        )
        self.clock += 0.5
        return a, b, usd

    # ------------------------------------------------------------------ events
    def _event(self, kind: str, payload: dict[str, Any]) -> None:
        self.n_events += 1
        self.tables["events"].append(
            {
                "event_id": f"ev-{self.n_events:05d}",
                "kind": kind,
                "payload": canonical_json(payload),
                "created_at": self.clock,
            }
        )

    def _pick_parent(self) -> str:
        ok = [(c, v) for c, v in self.tree if v == v]
        if not ok:
            return ""
        if self.rng.random() < 0.5:  # DFS-like: extend the best node; else any node
            return max(ok, key=lambda cv: cv[1])[0]
        return ok[int(self.rng.integers(0, len(ok)))][0]

    def _tree_node(
        self,
        cid: str,
        parents: tuple[str, ...],
        suggestion: str,
        val: float | None,
        state: TrialState,
    ) -> None:
        self.tree.append((cid, float("nan") if val is None else val))
        self._event(
            "tree_node",
            {
                "candidate_id": cid,
                "parent_id": parents[0] if parents else None,
                "suggestion": suggestion,
                "val_acc": val,
                "state": state.value,
            },
        )

    def _block_text(self, i: int, ops: tuple[str, ...]) -> str:
        convs = [o for o in ops if "conv" in o] or ["nor_conv_3x3"]
        lines = [f"##block_{i}##", "0:input", "1:output"]
        edges = []
        prev = 0
        for k, op in enumerate(convs, start=2):
            ksz = 3 if "3x3" in op else 1
            lines.append(f"{k}:Conv2d(out_channels=C,kernel_size={ksz},stride=1)")
            edges.append(f"{prev}->{k}")
            prev = k
        lines.append(f"{len(convs) + 2}:Add")
        edges += [f"{prev}->{len(convs) + 2}", f"0->{len(convs) + 2}", f"{len(convs) + 2}->1"]
        return "\n".join(lines + edges) + "\n"

    def _experience(self, cid: str, rec: TrialRecord, suggestion: str) -> None:
        kind = "failure" if rec.state.is_failure else "success"
        self.tables["experiences"].append(
            {
                "experience_id": f"exp-{len(self.tables['experiences']):05d}",
                "category": "shape mismatch" if rec.state is TrialState.INVALID else "degradation",
                "kind": kind,
                "text": f"Applying '{suggestion}' gave {rec.state.value}.",
                "metadata": canonical_json({"suggestion": suggestion}),
                "candidate_id": cid,
                "created_at": self.clock,
            }
        )

    def _archive_add(
        self, cid: str, ops: tuple[str, ...], params: int, macs: int, val: float
    ) -> None:
        depth = 1 + sum(o in ("nor_conv_3x3", "nor_conv_1x1") for o in ops)
        ratio = 16 / depth  # width-to-depth ratio
        x = int(np.clip((math.log10(2 * macs) - 7.0) / 0.25, 0, 9))
        y = int(np.clip(ratio / 1.7, 0, 9))
        cell = (x, y)
        if cell not in self.archive or self.archive[cell][0] < val:
            self.archive[cell] = (val, cid)
        pcell = (int(self.rng.integers(0, 8)), int(self.rng.integers(0, 5)))
        gain = float(self.rng.normal(0.01, 0.02))
        if pcell not in self.prompt_archive or self.prompt_archive[pcell][0] < gain:
            self.prompt_archive[pcell] = (gain, cid)

    def _archive_snapshot(self, i: int) -> None:
        if not self.archive:
            return
        self._event(
            "archive",
            {
                "archive": "network",
                "iteration": i,
                "dims": [10, 10],
                "labels": ["log10 FLOPs", "width / depth"],
                "ranges": [[7.0, 9.5], [0.0, 17.0]],
                "cells": [
                    {"index": list(k), "fitness": v, "candidate_id": c}
                    for k, (v, c) in sorted(self.archive.items())
                ],
            },
        )
        self._event(
            "archive",
            {
                "archive": "prompt",
                "iteration": i,
                "dims": [8, 5],
                "labels": ["prompt", "temperature"],
                "ranges": [[0, 8], [0.2, 1.2]],
                "cells": [
                    {"index": list(k), "fitness": v, "candidate_id": c}
                    for k, (v, c) in sorted(self.prompt_archive.items())
                ],
            },
        )

    def _principles(self, iteration: int) -> None:
        k = min(len(_PRINCIPLES), 2 + iteration)
        self._llm_call("lapt", 5000, 1500, "")
        self._event(
            "principles",
            {
                "iteration": iteration,
                "principles": list(_PRINCIPLES[:k]),
                "space_size": int(15625 / (1 + 2.5 * iteration)),
                "source": "cifar10" if iteration == 0 else "adapted",
            },
        )
