"""The report's interactive figures: plotly.js figure specs (plain dicts, JSON-ready).

Each ``fig_*`` function returns a :class:`Figure` (``data`` traces and ``layout`` as plotly.js
takes them) or None when it has nothing to show. The page embeds plotly.js itself (the
offline bundle of the pinned ``plotly`` package), so hover, zoom and pan work offline.

Scales follow the bulk of the data, not its extremes: value axes and colour scales span
robust quantiles (:func:`robust_range`), so one diverged candidate at 0.1 does not squash
500 candidates between 0.88 and 0.92 into one colour or one pixel row; plotly's "autoscale"
button still shows everything. Axes that count things (evaluations, iterations, calls) get
integer ticks (:func:`int_axis`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analysis.data import ArchiveSnapshot, TreeNode

__all__ = [
    "Figure",
    "collapse_tree",
    "fig_acc_vs_cost",
    "fig_archive_history",
    "fig_best_so_far",
    "fig_failures",
    "fig_learning_curves",
    "fig_llm_cost",
    "fig_principles",
    "fig_promotions",
    "fig_tree",
    "int_axis",
    "robust_range",
]

Row = dict[str, Any]
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22")  # fmt: skip
HEIGHT = 340


@dataclass
class Figure:
    id: str
    title: str
    caption: str
    data: list[dict[str, Any]]
    layout: dict[str, Any]
    points: int = 0  # data points drawn (the page's self-test counts rendered ones)
    wide: bool = False  # spans the full page width

    def spec(self) -> dict[str, Any]:
        return {"id": self.id, "data": self.data, "layout": self.layout, "points": self.points}


# ------------------------------------------------------------------------------ scales
def _quantile(sorted_vals: Sequence[float], q: float) -> float:
    if not sorted_vals:
        return math.nan
    pos = q * (len(sorted_vals) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def robust_range(values: Sequence[float | None], low_q: float = 0.05,
                 pad: float = 0.08) -> tuple[float, float] | None:  # fmt: skip
    """[low, high] spanning the bulk: from the ``low_q`` quantile (the lowest values are
    usually failures or diverged runs) to the maximum, padded by ``pad`` of the span."""
    vals = sorted(float(v) for v in values if v is not None and math.isfinite(float(v)))
    if not vals:
        return None
    lo, hi = _quantile(vals, low_q), vals[-1]
    if hi - lo < 1e-9:
        lo, hi = lo - 0.01, hi + 0.01
    span = hi - lo
    return lo - pad * span, hi + pad * span


def int_axis(n_max: float, title: str) -> dict[str, Any]:
    """An axis of counts: integer ticks only (1, 2, 5 x 10^k steps, about 8 ticks)."""
    step = 1
    for base in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        step = base
        if n_max / base <= 8:
            break
    return {"title": {"text": title}, "tickmode": "linear", "tick0": 0, "dtick": step,
            "tickformat": "d", "rangemode": "tozero"}  # fmt: skip


def _layout(title: str, x: dict[str, Any], y: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
        "height": HEIGHT,
        "margin": {"l": 58, "r": 18, "t": 38, "b": 46},
        "xaxis": {"automargin": True, **x},
        "yaxis": {"automargin": True, **y},
        "legend": {"orientation": "h", "y": -0.22, "font": {"size": 10}},
        "hovermode": "closest",
        "template": None,
        "plot_bgcolor": "#fff",
        **extra,
    }


def _short(text: Any, n: int = 70) -> str:
    s = str(text or "").strip().splitlines()
    first = s[0] if s else ""
    return first if len(first) <= n else first[: n - 1] + "…"


def _f(v: Any, nd: int = 4) -> float | None:
    return None if v is None else round(float(v), nd)


# ------------------------------------------------------------------------ best so far
def fig_best_so_far(runs: Mapping[str, Sequence[Row]], chance: float | None,
                    test_after: Mapping[str, float] | None = None) -> Figure | None:  # fmt: skip
    """Incumbent validation accuracy after each evaluation (a step line per run), its test
    accuracy (dotted; for table runs looked up after selection: ``test_after`` by candidate
    id) and, for one run, every evaluation as a light dot with its candidate on hover."""
    if not any(any(r["best_val"] is not None for r in rows) for rows in runs.values()):
        return None
    data: list[dict[str, Any]] = []
    values: list[float | None] = []
    n_max, points = 0, 0
    for k, (rid, rows) in enumerate(runs.items()):
        color = PALETTE[k % len(PALETTE)]
        rows = [r for r in rows if r["best_val"] is not None]
        if not rows:
            continue
        xs = [int(r["eval_index"]) for r in rows]
        n_max = max(n_max, xs[-1])
        if len(runs) == 1:
            pts = [r for r in rows if r["val_acc"] is not None]
            data.append({
                "type": "scatter", "mode": "markers", "name": "each evaluation (val)",
                "x": [int(r["eval_index"]) for r in pts], "y": [_f(r["val_acc"]) for r in pts],
                "text": [f"{r['candidate_id']} {r['state']}" for r in pts],
                "hovertemplate": "eval %{x}<br>val %{y:.4f}<br>%{text}<extra></extra>",
                "marker": {"size": 4, "color": "rgba(120,120,120,0.45)"},
            })  # fmt: skip
            values += [r["val_acc"] for r in pts]
            points += len(pts)
        best = [_f(r["best_val"]) for r in rows]
        values += best
        points += len(rows)
        label = rid if len(runs) > 1 else "best val so far"
        data.append({
            "type": "scatter", "mode": "lines", "line": {"shape": "hv", "color": color, "width": 2},
            "name": label, "x": xs, "y": best, "text": [r["best_candidate_id"] for r in rows],
            "hovertemplate": "eval %{x}<br>best val %{y:.4f}<br>%{text}<extra>" + rid[:30]
            + "</extra>",
        })  # fmt: skip
        tests = [r.get("best_test") for r in rows]
        note = "test of the incumbent"
        if all(t is None for t in tests) and test_after:
            tests = [test_after.get(str(r["best_candidate_id"])) for r in rows]
            note = "test after selection (table lookup)"
        if any(t is not None for t in tests):
            data.append({
                "type": "scatter", "mode": "lines", "name": f"{note}" + (f" {rid}" if len(runs) > 1 else ""),
                "line": {"shape": "hv", "color": color, "width": 1.3, "dash": "dot"},
                "x": xs, "y": [_f(t) for t in tests],
                "hovertemplate": "eval %{x}<br>test %{y:.4f}<extra></extra>",
            })  # fmt: skip
            values += tests
    yr = robust_range(values)
    shapes = []
    if chance is not None and yr and yr[0] <= chance <= yr[1]:
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": chance,
                       "y1": chance, "line": {"color": "#999", "dash": "dash", "width": 1}})  # fmt: skip
    chance_note = (
        f" Chance = {chance:.3f}" + (" (dashed grey)." if shapes else " (below the axis).")
        if chance is not None else ""
    )  # fmt: skip
    return Figure(
        "best-so-far", "Best so far",
        "Incumbent (best validation accuracy) after each evaluation; dotted: its test accuracy "
        "(never used for selection). The y axis spans the bulk of the values (5% quantile to "
        "the maximum); use autoscale (double-click) to see everything." + chance_note,
        data, _layout("Best so far", int_axis(n_max, "evaluations"),
                      {"title": {"text": "accuracy"}, "range": list(yr) if yr else None},
                      shapes=shapes),
        points=points, wide=True,
    )  # fmt: skip


# --------------------------------------------------------------------- accuracy vs cost
def _pareto_max(points: Sequence[tuple[float, float, int]]) -> list[int]:
    """Indices of the points no other point beats (lower cost, higher accuracy)."""
    best = -math.inf
    front = []
    for _cost, acc, i in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append(i)
            best = acc
    return front


def fig_acc_vs_cost(board: Sequence[Row], key: str) -> Figure | None:
    rows = [r for r in board if r["state"] == "COMPLETE" and r["val_acc"] is not None
            and (r.get(key) or 0) > 0]  # fmt: skip
    if not rows:
        return None
    strategies = sorted({str(r["strategy"]) for r in rows})
    data: list[dict[str, Any]] = []
    for k, s in enumerate(strategies):
        sub = [r for r in rows if str(r["strategy"]) == s]
        data.append({
            "type": "scatter", "mode": "markers", "name": s,
            "x": [r[key] for r in sub], "y": [_f(r["val_acc"]) for r in sub],
            "text": [f"{r['candidate_id']} ({r['agent']})<br>{_short(r['arch'], 60)}" for r in sub],
            "hovertemplate": f"{key} %{{x:,.0f}}<br>val %{{y:.4f}}<br>%{{text}}<extra></extra>",
            "marker": {"size": 6, "opacity": 0.75, "color": PALETTE[k % len(PALETTE)]},
        })  # fmt: skip
    pts = [(float(r[key]), float(r["val_acc"]), i) for i, r in enumerate(rows)]
    front = sorted(_pareto_max(pts), key=lambda i: float(rows[i][key]))
    data.append({
        "type": "scatter", "mode": "lines+markers", "name": "Pareto front",
        "line": {"shape": "hv", "color": "#222", "width": 1.5},
        "marker": {"size": 8, "symbol": "diamond-open", "color": "#222"},
        "x": [rows[i][key] for i in front], "y": [_f(rows[i]["val_acc"]) for i in front],
        "text": [rows[i]["candidate_id"] for i in front],
        "hovertemplate": f"Pareto: %{{text}}<br>{key} %{{x:,.0f}}<br>val %{{y:.4f}}<extra></extra>",
    })  # fmt: skip
    yr = robust_range([r["val_acc"] for r in rows])
    label = "parameters" if key == "params" else "FLOPs"
    return Figure(
        f"acc-vs-{key}", f"Validation accuracy vs {label}",
        f"Each complete candidate (hover: id, agent, architecture); black: the Pareto front "
        f"(no other candidate is both smaller in {label} and more accurate). Log x axis.",
        data, _layout(f"Accuracy vs {label}", {"title": {"text": label}, "type": "log", "dtick": "D2"},
                      {"title": {"text": "validation accuracy"}, "range": list(yr) if yr else None}),
        points=len(rows) + len(front),
    )  # fmt: skip


# --------------------------------------------------------------------- learning curves
def fig_learning_curves(curves: Sequence[Row]) -> Figure | None:
    if not curves:
        return None
    data: list[dict[str, Any]] = []
    by: dict[str, list[Row]] = {}
    for r in curves:
        by.setdefault(str(r["candidate_id"]), []).append(r)
    n_max, pts = 1, 0
    for k, (cid, rows) in enumerate(by.items()):
        rows = [r for r in rows if r["val_acc"] is not None]
        if not rows:
            continue
        n_max = max(n_max, max(int(r["epoch"]) for r in rows))
        pts += len(rows)
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": f"#{rows[0]['rank']} {cid}",
            "x": [int(r["epoch"]) for r in rows], "y": [_f(r["val_acc"]) for r in rows],
            "marker": {"size": 4}, "line": {"color": PALETTE[k % len(PALETTE)]},
            "hovertemplate": f"{cid}<br>epoch %{{x}}<br>val %{{y:.4f}}<extra></extra>",
        })  # fmt: skip
    if not data:
        return None
    return Figure(
        "learning-curves", "Learning curves of the top designs",
        "Validation accuracy per epoch of the five best candidates.",
        data, _layout("Learning curves (top 5)", int_axis(n_max, "epoch"),
                      {"title": {"text": "validation accuracy"}}),
        points=pts,
    )  # fmt: skip


# ------------------------------------------------------------------- fidelity rungs
def fig_promotions(rungs: Sequence[Row], finals: Mapping[str, float | None]) -> Figure | None:
    """Issue 25's promotion plot: validation accuracy vs epochs trained, one line per
    candidate through its rungs (``rungs``: decision rows of
    :func:`analysis.data.rung_rows`), ending at its full-fidelity result (``finals``:
    candidate -> validation accuracy of its final trial) when it got there. Stopped
    candidates are grey; promoted ones still training are dashed."""
    if not rungs:
        return None
    by: dict[str, list[Row]] = {}
    for r in rungs:
        by.setdefault(str(r["candidate_id"]), []).append(r)
    full = max(int(r["next_epochs"]) for r in rungs)
    groups: dict[str, tuple[list[float | None], list[float | None], list[str]]] = {
        k: ([], [], []) for k in ("stopped", "full", "training")
    }
    for cid, rows in by.items():
        rows.sort(key=lambda r: int(r["epochs"]))
        pts = [(int(r["epochs"]), float(r["value"]),
                f"{cid}<br>rung {r['epochs']} ep: rank {r['rank']} of {r['competitors']} -> "
                + (f"promoted to {r['next_epochs']}" if r["promote"] else "stopped"))
               for r in rows]  # fmt: skip
        last = rows[-1]
        final = finals.get(cid)
        if not last["promote"]:
            kind = "stopped"
        elif int(last["next_epochs"]) == full and final is not None:
            kind = "full"
            pts.append((full, float(final), f"{cid}<br>full training ({full} ep)"))
        else:
            kind = "training"
        xs, ys, texts = groups[kind]
        for x, y, t in pts:
            xs.append(x)
            ys.append(_f(y))
            texts.append(t)
        xs.append(None)  # a gap between candidates: one trace per group, not per candidate
        ys.append(None)
        texts.append("")
    style = {"stopped": ("stopped at a rung", "#b0b0b0", "solid", 0.6),
             "full": ("trained to full fidelity", "#1f77b4", "solid", 1.0),
             "training": ("promoted, still training", "#ff7f0e", "dash", 1.0)}  # fmt: skip
    data: list[dict[str, Any]] = []
    pts_n = 0
    for kind, (xs, ys, texts) in groups.items():
        if not xs:
            continue
        name, color, dash, opacity = style[kind]
        n = sum(1 for y in ys if y is not None)
        pts_n += n
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": f"{name} ({texts.count('')})",
            "x": xs, "y": ys, "text": texts, "opacity": opacity, "connectgaps": False,
            "marker": {"size": 5, "color": color}, "line": {"color": color, "dash": dash,
                                                             "width": 1},
            "hovertemplate": "%{text}<br>val %{y:.4f}<extra></extra>",
        })  # fmt: skip
    ladder = sorted({int(r["epochs"]) for r in rungs} | {full})
    yr = robust_range([float(r["value"]) for r in rungs] + [v for v in finals.values()
                                                            if v is not None])  # fmt: skip
    y_axis: dict[str, Any] = {"title": {"text": "validation accuracy"}}
    if yr:
        y_axis["range"] = list(yr)
    x_axis = {"title": {"text": "epochs trained (rungs)"}, "type": "log", "tickmode": "array",
              "tickvals": ladder, "ticktext": [str(e) for e in ladder]}  # fmt: skip
    return Figure(
        "promotions", "Rung promotions",
        f"Each line is a candidate through the rungs {ladder}: grey ones were stopped (PRUNED) "
        "at their last point, blue ones trained to full fidelity. Hover for rank and decision.",
        data, _layout("Promotions per rung", x_axis, y_axis), points=pts_n, wide=True,
    )  # fmt: skip


# ------------------------------------------------------------------------ NADER tree
def collapse_tree(nodes: Sequence[TreeNode], limit: int = 50) -> tuple[list[TreeNode], int]:
    """At most ``limit`` nodes: all of them when they fit, else the lineages (every ancestor
    up to the root) of as many of the best nodes as fit; a single lineage longer than
    ``limit`` keeps its newest ``limit`` nodes. Returns (nodes kept, hidden)."""
    if len(nodes) <= limit:
        return list(nodes), 0
    by_id = {n.candidate_id: n for n in nodes}
    ranked = sorted((n for n in nodes if n.val_acc is not None), key=lambda n: -(n.val_acc or 0))
    keep: dict[str, TreeNode] = {}
    for n in ranked:
        line: list[TreeNode] = []
        cur: TreeNode | None = n
        while cur is not None and cur.candidate_id not in keep and cur not in line:
            line.append(cur)
            cur = by_id.get(cur.parent_id) if cur.parent_id else None
        if len(keep) + len(line) > limit:
            if keep:
                break
            line = line[:limit]  # one lineage longer than the limit: its newest part
        for x in line:
            keep[x.candidate_id] = x
    ordered = [n for n in nodes if n.candidate_id in keep]
    return ordered, len(nodes) - len(ordered)


def fig_tree(nodes: Sequence[TreeNode], limit: int = 50) -> Figure | None:
    if not nodes:
        return None
    from analysis.tree_layout import tree_layout

    kept, hidden = collapse_tree(nodes, limit)
    pos = tree_layout(kept)
    ex, ey = [], []
    for n in kept:
        if n.parent_id in pos and n.candidate_id in pos:
            (x0, y0), (x1, y1) = pos[n.parent_id], pos[n.candidate_id]
            ex += [x0, x1, None]
            ey += [y0, y1, None]
    ok = [n for n in kept if n.val_acc is not None]
    bad = [n for n in kept if n.val_acc is None]
    cr = robust_range([n.val_acc for n in ok], pad=0.0)
    data: list[dict[str, Any]] = [{
        "type": "scatter", "mode": "lines", "x": ex, "y": ey, "hoverinfo": "skip",
        "line": {"color": "#bbb", "width": 1}, "showlegend": False,
    }]  # fmt: skip
    if ok:
        data.append({
            "type": "scatter", "mode": "markers", "name": "evaluated",
            "x": [pos[n.candidate_id][0] for n in ok], "y": [pos[n.candidate_id][1] for n in ok],
            "text": [f"{n.candidate_id} val {n.val_acc:.4f}<br>{_short(n.suggestion, 80)}" for n in ok],
            "hovertemplate": "%{text}<extra></extra>",
            "marker": {"size": 11, "color": [n.val_acc for n in ok], "colorscale": "Viridis",
                       "cmin": cr[0] if cr else None, "cmax": cr[1] if cr else None,
                       "colorbar": {"title": {"text": "val"}, "thickness": 12},
                       "line": {"width": 0.5, "color": "#333"}},
        })  # fmt: skip
    if bad:
        data.append({
            "type": "scatter", "mode": "markers", "name": "failed / invalid",
            "x": [pos[n.candidate_id][0] for n in bad], "y": [pos[n.candidate_id][1] for n in bad],
            "text": [f"{n.candidate_id} {n.state}<br>{_short(n.suggestion, 80)}" for n in bad],
            "hovertemplate": "%{text}<extra></extra>",
            "marker": {"size": 9, "symbol": "x", "color": "#d62728"},
        })  # fmt: skip
    depth = max((p[0] for p in pos.values()), default=0)
    note = (f" Collapsed: the lineages of the best nodes ({len(kept)} of {len(nodes)} nodes; "
            f"{hidden} hidden)." if hidden else "")  # fmt: skip
    height = max(HEIGHT, min(900, 22 * (1 + max((p[1] for p in pos.values()), default=0))))
    layout = _layout("Modification tree", int_axis(depth, "depth (modifications from the seed)"),
                     {"visible": False}, showlegend=True)  # fmt: skip
    layout["height"] = height
    return Figure(
        "tree", "Modification tree (NADER)",
        "Each node a candidate derived from its parent by one suggestion (hover for it); colour ="
        " validation accuracy over the bulk of the values; red x = failed or invalid." + note,
        data, layout, points=len(kept), wide=True,
    )  # fmt: skip


# ------------------------------------------------------------------------- archives
def fig_archive_history(history: Sequence[ArchiveSnapshot], max_frames: int = 30) -> Figure | None:
    """One archive's elites as a heatmap per iteration, a slider steps through them."""
    if not history:
        return None
    snaps = list(history)
    if len(snaps) > max_frames:  # keep the first, the last and evenly spaced ones between
        idx = sorted({round(i * (len(snaps) - 1) / (max_frames - 1)) for i in range(max_frames)})
        snaps = [snaps[i] for i in idx]
    name = snaps[-1].name
    nx, ny = snaps[-1].dims
    fitness = [c[2] for s in snaps for c in s.cells]
    cr = robust_range(fitness, pad=0.0)
    data = []
    for k, s in enumerate(snaps):
        z: list[list[float | None]] = [[None] * nx for _ in range(ny)]
        text: list[list[str]] = [[""] * nx for _ in range(ny)]
        for i, j, v, cid in s.cells:
            if 0 <= i < nx and 0 <= j < ny:
                z[j][i] = round(v, 4)
                text[j][i] = cid
        data.append({
            "type": "heatmap", "z": z, "text": text, "visible": k == len(snaps) - 1,
            "colorscale": "Viridis", "zmin": cr[0] if cr else None, "zmax": cr[1] if cr else None,
            "hovertemplate": "niche (%{x}, %{y})<br>fitness %{z:.4f}<br>%{text}<extra>"
            f"iteration {s.iteration}</extra>", "name": f"iteration {s.iteration}",
            "colorbar": {"title": {"text": "fitness"}, "thickness": 12},
        })  # fmt: skip
    steps = [{"label": str(s.iteration), "method": "restyle",
              "args": ["visible", [k == m for m in range(len(snaps))]]}
             for k, s in enumerate(snaps)]  # fmt: skip
    last = snaps[-1]
    layout = _layout(
        f"{name} archive", {"title": {"text": last.labels[0]}, "dtick": 1 if nx <= 12 else None},
        {"title": {"text": last.labels[1]}, "dtick": 1 if ny <= 12 else None},
        sliders=[{"active": len(snaps) - 1, "steps": steps, "pad": {"t": 40},
                  "currentvalue": {"prefix": "iteration "}}],
    )  # fmt: skip
    layout["height"] = HEIGHT + 70
    layout["margin"]["b"] = 90
    filled = len(last.cells)
    return Figure(
        f"archive-{name.split()[0]}", f"{name} archive",
        f"Elites per niche after each iteration (slider; {len(history)} snapshots"
        + (f", {len(snaps)} shown" if len(snaps) < len(history) else "")
        + f"). Last: {filled} of {nx * ny} cells filled.",
        data, layout, points=filled,
    )  # fmt: skip


# ------------------------------------------------------------------------ principles
def fig_principles(history: Sequence[Row]) -> Figure | None:
    sizes = [(int(p.get("iteration") or 0), int(p["space_size"])) for p in history
             if p.get("space_size") is not None]  # fmt: skip
    if not sizes:
        return None
    data = [{
        "type": "scatter", "mode": "lines+markers", "name": "refined space size",
        "x": [i for i, _ in sizes], "y": [s for _, s in sizes],
        "line": {"shape": "hv"}, "hovertemplate": "iteration %{x}<br>%{y:,} architectures<extra></extra>",
    }]  # fmt: skip
    n_max = max(i for i, _ in sizes)
    return Figure(
        "principles", "Refined search space (LAPT)",
        "Architectures the current principles allow, per principle update (log scale).",
        data, _layout("Refined space size", int_axis(n_max, "iteration"),
                      {"title": {"text": "architectures"}, "type": "log", "dtick": "D2"}),
        points=len(sizes),
    )  # fmt: skip


# ------------------------------------------------------------------------- failures
def fig_failures(by_kind: Sequence[Row]) -> Figure | None:
    if not by_kind:
        return None
    labels = [f"{r['state']}: {r['error_kind']}" for r in by_kind]
    counts = [int(r["n"]) for r in by_kind]
    data = [{
        "type": "bar", "orientation": "h", "x": counts, "y": labels,
        "text": [_short(r["example"], 100) for r in by_kind], "marker": {"color": "#d62728"},
        "textposition": "none",
        "hovertemplate": "%{y}: %{x}<br>%{text}<extra></extra>", "name": "failures",
    }]  # fmt: skip
    layout = _layout("Failures by kind", int_axis(max(counts), "evaluations"),
                     {"automargin": True, "autorange": "reversed"}, showlegend=False)  # fmt: skip
    layout["height"] = max(220, min(HEIGHT, 70 + 26 * len(labels)))
    return Figure("failures", "Failures by kind", "Hover for an example message.", data,
                  layout, points=len(counts))  # fmt: skip


# ------------------------------------------------------------------------- LLM cost
def fig_llm_cost(calls: Sequence[Row]) -> Figure | None:
    if not calls:
        return None
    agents = sorted({str(c.get("agent") or "unknown") for c in calls})
    data = []
    total = 0.0
    for k, a in enumerate(agents):
        sub = [c for c in calls if str(c.get("agent") or "unknown") == a]
        cum, ys = 0.0, []
        for c in sub:
            cum += float(c["usd"] or 0.0)
            ys.append(round(cum, 5))
        total += cum
        data.append({
            "type": "scatter", "mode": "lines", "name": a, "x": list(range(1, len(sub) + 1)),
            "y": ys, "line": {"shape": "hv", "color": PALETTE[k % len(PALETTE)]},
            "hovertemplate": f"{a}<br>call %{{x}}<br>${{y:.4f}} so far<extra></extra>",
        })  # fmt: skip
    n_max = max(len(d["x"]) for d in data)
    return Figure(
        "llm-cost", "LLM cost", f"Cumulative dollars per agent over its calls (total ${total:.2f}).",
        data, _layout("Cumulative LLM cost", int_axis(n_max, "calls"),
                      {"title": {"text": "USD"}, "rangemode": "tozero"}),
        points=sum(len(d["x"]) for d in data),
    )  # fmt: skip
