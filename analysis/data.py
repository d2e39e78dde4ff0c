"""Everything the report shows about one run, read from the store through DuckDB.

Event kinds read (payloads are JSON; see docs/analysis.md):

* ``tree_node`` — NADER's modification tree: ``{candidate_id, parent_id, suggestion,
  val_acc, state}``. Without such events the tree is built from ``candidates.parents``.
* ``archive`` — an LLMatic archive snapshot: ``{archive, iteration, dims: [nx, ny],
  labels: [x, y], ranges: [[lo, hi], [lo, hi]], cells: [{index: [i, j], fitness,
  candidate_id}]}``; the latest snapshot of each archive is shown. Without such events, a
  run with LLMatic candidates gets a network archive derived from its results
  (log10 FLOPs x width/depth).
* ``principles`` — LAPT's principle history: ``{iteration, principles: [text], space_size,
  source}``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from analysis.queries import fetch

if TYPE_CHECKING:
    import duckdb

__all__ = ["ArchiveSnapshot", "RunData", "TreeNode", "collect", "rung_rows", "rung_summary"]

Row = dict[str, Any]


@dataclass(frozen=True)
class TreeNode:
    candidate_id: str
    parent_id: str | None
    suggestion: str
    val_acc: float | None
    state: str


@dataclass(frozen=True)
class ArchiveSnapshot:
    name: str
    iteration: int
    dims: tuple[int, int]
    labels: tuple[str, str]
    ranges: tuple[tuple[float, float], tuple[float, float]] | None
    cells: tuple[tuple[int, int, float, str], ...]  # (i, j, fitness, candidate_id)
    derived: bool = False  # built from results, not from the strategy's own events
    niches: int | None = None  # the archive's own niche count (CVT centroids), when stated


@dataclass
class RunData:
    run_id: str
    leaderboard: list[Row] = field(default_factory=list)
    best_so_far: list[Row] = field(default_factory=list)
    pareto: list[Row] = field(default_factory=list)
    curves: list[Row] = field(default_factory=list)
    failures_by_kind: list[Row] = field(default_factory=list)
    failures_by_proposer: list[Row] = field(default_factory=list)
    llm_by_agent: list[Row] = field(default_factory=list)
    llm_per_improvement: list[Row] = field(default_factory=list)
    llm_per_architecture: list[Row] = field(default_factory=list)
    llm_calls: list[Row] = field(default_factory=list)  # created_at, cost_usd, tokens
    tree: list[TreeNode] = field(default_factory=list)
    tree_from_events: bool = False
    archives: list[ArchiveSnapshot] = field(default_factory=list)  # latest per archive
    archive_history: list[ArchiveSnapshot] = field(default_factory=list)  # every snapshot
    principles: list[Row] = field(default_factory=list)
    rungs: list[Row] = field(default_factory=list)  # fidelity rung decisions, in decision order
    counts: Row = field(default_factory=dict)

    @property
    def complete(self) -> list[Row]:
        return [
            r for r in self.leaderboard if r["state"] == "COMPLETE" and r["val_acc"] is not None
        ]

    @property
    def best(self) -> Row | None:
        done = self.complete
        return done[0] if done else None


def _where_run(rows: list[Row], run_id: str) -> list[Row]:
    return [r for r in rows if r.get("run_id") == run_id]


def collect(con: duckdb.DuckDBPyConnection, run_id: str) -> RunData:
    """All report data of ``run_id`` from a connection made by :func:`analysis.source.connect_runs`."""
    d = RunData(run_id)
    d.leaderboard = _where_run(fetch(con, "leaderboard"), run_id)
    d.best_so_far = _where_run(fetch(con, "best_so_far"), run_id)
    d.pareto = _where_run(fetch(con, "pareto_front"), run_id)
    d.curves = _where_run(fetch(con, "learning_curves"), run_id)
    d.failures_by_kind = _where_run(fetch(con, "failures_by_kind"), run_id)
    d.failures_by_proposer = _where_run(fetch(con, "failures_by_proposer"), run_id)
    d.llm_by_agent = _where_run(fetch(con, "llm_cost_by_agent"), run_id)
    d.llm_per_improvement = _where_run(fetch(con, "llm_cost_per_improvement"), run_id)
    d.llm_per_architecture = _where_run(fetch(con, "llm_cost_per_architecture"), run_id)
    rid = run_id.replace("'", "''")
    d.llm_calls = fetch(
        con,
        "SELECT created_at, coalesce(cost_usd, 0) AS usd, "
        "coalesce(tokens_in, 0) + coalesce(tokens_out, 0) AS tokens, agent "
        f"FROM llm_calls WHERE run_id = '{rid}' ORDER BY created_at",
    )
    events = fetch(
        con,
        "SELECT kind, payload, created_at FROM events "
        f"WHERE run_id = '{rid}' AND kind IN ('tree_node', 'archive', 'principles', 'rung') "
        "ORDER BY created_at, event_id",
    )
    d.counts = fetch(
        con,
        f"SELECT (SELECT count(*) FROM candidate_rows WHERE run_id = '{rid}') AS candidates, "
        f"(SELECT count(*) FROM trial_results WHERE run_id = '{rid}') AS evaluated, "
        f"(SELECT count(*) FROM trial_results WHERE run_id = '{rid}' AND ok) AS complete, "
        f"(SELECT count(*) FROM llm_calls WHERE run_id = '{rid}') AS llm_calls, "
        f"(SELECT coalesce(sum(cost_usd), 0) FROM llm_calls WHERE run_id = '{rid}') AS llm_usd, "
        "(SELECT coalesce(sum(gpu_seconds), 0) / 3600 FROM trial_results "
        f"WHERE run_id = '{rid}') AS gpu_hours",
    )[0]
    by_kind: dict[str, list[Row]] = {"tree_node": [], "archive": [], "principles": [], "rung": []}
    for e in events:
        try:
            payload = json.loads(e["payload"] or "{}")
        except ValueError:
            continue
        if isinstance(payload, dict):
            by_kind[e["kind"]].append(payload)
    acc = {r["candidate_id"]: r for r in d.leaderboard}
    d.tree, d.tree_from_events = _tree(by_kind["tree_node"], con, rid, acc)
    d.archive_history = _archive_snapshots(by_kind["archive"])
    d.archives = _archives(by_kind["archive"]) or _derived_archive(d.leaderboard)
    d.principles = sorted(
        (p for p in by_kind["principles"] if isinstance(p.get("principles"), list)),
        key=lambda p: int(p.get("iteration") or 0),
    )
    d.rungs = rung_rows(by_kind["rung"])
    return d


_RUNG_FIELDS = {"candidate_id": str, "epochs": int, "value": float, "promote": bool,
                "next_epochs": int, "rank": int, "competitors": int, "n": int}  # fmt: skip


def rung_rows(payloads: Sequence[Row]) -> list[Row]:
    """The run's rung decisions (events of kind ``rung``, issue 25) as typed rows in decision
    order, one per candidate and rung (a row stored twice by a repeated step counts once; a
    payload without these fields is left out)."""
    out: dict[tuple[str, int], Row] = {}
    for p in payloads:
        try:
            row = {k: conv(p[k]) for k, conv in _RUNG_FIELDS.items()}
        except (KeyError, TypeError, ValueError):
            continue
        out.setdefault((row["candidate_id"], row["epochs"]), row)
    return sorted(out.values(), key=lambda r: int(r["n"]))


def rung_summary(rungs: Sequence[Row]) -> list[Row]:
    """Per rung: candidates that reached it, promoted, stopped, best and median value."""
    by: dict[int, list[Row]] = {}
    for r in rungs:
        by.setdefault(int(r["epochs"]), []).append(r)
    out: list[Row] = []
    for epochs in sorted(by):
        rows = by[epochs]
        vals = sorted(float(r["value"]) for r in rows)
        promoted = sum(1 for r in rows if r["promote"])
        out.append({"rung_epochs": epochs, "reached": len(rows), "promoted": promoted,
                    "stopped": len(rows) - promoted, "best_val": round(vals[-1], 4),
                    "median_val": round(vals[len(vals) // 2], 4)})  # fmt: skip
    return out


def _tree(
    payloads: Sequence[Row], con: duckdb.DuckDBPyConnection, rid: str, acc: dict[str, Row]
) -> tuple[list[TreeNode], bool]:
    nodes: dict[str, TreeNode] = {}
    for p in payloads:
        cid = str(p.get("candidate_id") or "")
        if not cid:
            continue
        r = acc.get(cid, {})
        val = p.get("val_acc")
        if val is None and r.get("state") == "COMPLETE":
            val = r.get("val_acc")
        nodes[cid] = TreeNode(
            cid,
            str(p["parent_id"]) if p.get("parent_id") else None,
            str(p.get("suggestion") or ""),
            None if val is None else float(val),
            str(p.get("state") or r.get("state") or ""),
        )
    if nodes:
        return list(nodes.values()), True
    rows = fetch(
        con,
        "SELECT c.candidate_id, c.parents, c.origin_suggestion FROM candidate_rows c "
        f"WHERE c.run_id = '{rid}' ORDER BY c.created_at",
    )
    if not any(r["parents"] for r in rows):
        return [], False
    out = []
    for r in rows:
        res = acc.get(r["candidate_id"], {})
        parents = r["parents"] or []
        out.append(
            TreeNode(
                r["candidate_id"],
                parents[0] if parents else None,
                r["origin_suggestion"] or "",
                res.get("val_acc") if res.get("state") == "COMPLETE" else None,
                str(res.get("state") or "PENDING"),
            )
        )
    return out, False


def _archives(payloads: Sequence[Row]) -> list[ArchiveSnapshot]:
    """Latest snapshot per archive (the highest iteration wins; ties: the later one)."""
    latest: dict[str, ArchiveSnapshot] = {}
    for a in _archive_snapshots(payloads):
        if a.name not in latest or a.iteration >= latest[a.name].iteration:
            latest[a.name] = a
    return sorted(latest.values(), key=lambda a: a.name)


def _archive_snapshots(payloads: Sequence[Row]) -> list[ArchiveSnapshot]:
    """Every snapshot, in event order. Cells are grid niches (``dims`` + ``index: [i, j]``)
    or CVT elites (``descriptor: [x, y]`` within ``ranges``, default [0, 1]², binned 20 x
    20)."""
    out = []
    for p in payloads:
        name = str(p.get("archive") or "archive")
        try:
            dims = (int(p["dims"][0]), int(p["dims"][1])) if p.get("dims") else (20, 20)
            r = p.get("ranges") or [[0.0, 1.0], [0.0, 1.0]]
            ranges = ((float(r[0][0]), float(r[0][1])), (float(r[1][0]), float(r[1][1])))
            cells = []
            for c in p.get("cells") or []:
                if c.get("fitness") is None:
                    continue
                if c.get("index") is not None:
                    i, j = int(c["index"][0]), int(c["index"][1])
                else:
                    i = _bin(float(c["descriptor"][0]), ranges[0], dims[0])
                    j = _bin(float(c["descriptor"][1]), ranges[1], dims[1])
                cells.append((i, j, float(c["fitness"]), str(c.get("candidate_id") or "")))
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        labels = p.get("labels") or ["descriptor 1", "descriptor 2"]
        out.append(
            ArchiveSnapshot(
                name,
                int(p.get("iteration") or 0),
                dims,
                (str(labels[0]), str(labels[1])),
                ranges,
                tuple(cells),
                niches=int(p["niches"]) if p.get("niches") else None,
            )
        )
    return out


def _bin(x: float, lohi: tuple[float, float], n: int) -> int:
    lo, hi = lohi
    return max(0, min(n - 1, int((x - lo) / ((hi - lo) or 1.0) * n)))


_PROMPT = re.compile(r"^p(\d+)@T([0-9.]+)$")


def _depth(arch_kind: str, arch: str) -> int:
    if arch_kind == "nb201":
        return 1 + arch.count("conv")
    return 1 + sum(1 for line in arch.splitlines() if "conv" in line.lower())


def _grid(
    name: str,
    pts: Sequence[tuple[float, float, float, str]],
    labels: tuple[str, str],
    bins: int,
    n: int,
) -> ArchiveSnapshot:
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    rx = (min(xs), max(xs) + 1e-9)
    ry = (min(ys), max(ys) + 1e-9)
    best: dict[tuple[int, int], tuple[float, str]] = {}
    for x, y, v, cid in pts:
        k = (_bin(x, rx, bins), _bin(y, ry, bins))
        if k not in best or best[k][0] < v:
            best[k] = (v, cid)
    cells = tuple((i, j, v, c) for (i, j), (v, c) in sorted(best.items()))
    return ArchiveSnapshot(name, n, (bins, bins), labels, (rx, ry), cells, derived=True)


def _derived_archive(board: Sequence[Row], bins: int = 10) -> list[ArchiveSnapshot]:
    """LLMatic's archives from the results, for runs with LLMatic candidates but no
    ``archive`` events: the network archive (log10 FLOPs x width/depth, elite = best
    val_acc per niche) and the prompt archive (prompt id x temperature from
    ``Origin.prompt`` "p3@T0.74")."""
    rows = [
        r
        for r in board
        if str(r["strategy"]).lower().startswith("llmatic")
        and r["state"] == "COMPLETE"
        and r["val_acc"] is not None
    ]
    if not rows:
        return []
    out = []
    net = []
    for r in rows:
        size = r.get("flops") or r.get("params") or 0
        if size:
            ratio = 16.0 / _depth(r["arch_kind"], r["arch"])
            net.append((math.log10(size), ratio, float(r["val_acc"]), r["candidate_id"]))
    if net:
        label = "log10 FLOPs" if rows[0].get("flops") else "log10 params"
        out.append(_grid("network (derived)", net, (label, "width / depth"), bins, len(rows)))
    prompts = []
    for r in rows:
        m = _PROMPT.match(str(r.get("prompt") or ""))
        if m:
            prompts.append(
                (float(m.group(1)), float(m.group(2)), float(r["val_acc"]), r["candidate_id"])
            )
    if prompts:
        out.append(
            _grid("prompt (derived)", prompts, ("prompt id", "temperature"), bins, len(rows))
        )
    return out
