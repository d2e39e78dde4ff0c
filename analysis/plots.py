"""The report's figures (matplotlib, Agg backend, no display): each ``plot_*`` draws one
figure from :class:`analysis.data.RunData` rows, writes ``NAME.png`` and ``NAME.svg`` into
``out_dir`` and returns a :class:`Plot`, or ``None`` when the run has no data for it.

    >>> p = plot_best_so_far({"r1": data.best_so_far}, out_dir)   # doctest: +SKIP
    >>> p.png.name
    'best_so_far.png'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from analysis.data import ArchiveSnapshot, TreeNode

__all__ = [
    "Plot",
    "pareto_2d",
    "plot_acc_vs_cost",
    "plot_archives",
    "plot_best_so_far",
    "plot_failures",
    "plot_learning_curves",
    "plot_llm_cost",
    "plot_principles",
    "plot_tree",
    "tree_layout",
]

Row = dict[str, Any]
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


@dataclass(frozen=True)
class Plot:
    name: str  # file stem
    title: str
    png: Path
    svg: Path
    caption: str = ""


def _figure(w: float = 8.0, h: float = 4.5, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _save(fig: Figure, out_dir: Path, name: str, title: str, caption: str = "") -> Plot:
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    engine = fig.get_layout_engine()
    if engine is not None:  # lay out once, not once per file format
        engine.execute(fig)
        fig.set_layout_engine("none")
    fig.savefig(png, dpi=100)
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text: small, fast
        fig.savefig(svg)
    return Plot(name, title, png, svg, caption)


def _colors(keys: Sequence[str]) -> dict[str, str]:
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(dict.fromkeys(keys))}


def pareto_2d(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (cost, accuracy) points no other point beats (lower cost, higher accuracy), by cost."""
    front: list[tuple[float, float]] = []
    for c, a in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or a > front[-1][1]:
            front.append((c, a))
    return front


# ---------------------------------------------------------------------------- best so far
def plot_best_so_far(runs: Mapping[str, Sequence[Row]], out_dir: Path) -> Plot | None:
    """Incumbent validation accuracy (solid) and its test accuracy (dashed) against the
    number of evaluations; with one run, every evaluation as a grey dot."""
    if not any(any(r["best_val"] is not None for r in rows) for rows in runs.values()):
        return None
    fig, (ax,) = _figure()
    colors = _colors(list(runs))
    for rid, rows in runs.items():
        xs = [r["eval_index"] for r in rows if r["best_val"] is not None]
        if not xs:
            continue
        bv = [r["best_val"] for r in rows if r["best_val"] is not None]
        bt = [r["best_test"] for r in rows if r["best_val"] is not None]
        ax.step(xs, bv, where="post", color=colors[rid], lw=2, label=f"{rid} best val")
        if any(t is not None for t in bt):
            ax.step(
                xs,
                [math.nan if t is None else t for t in bt],
                where="post",
                color=colors[rid],
                lw=1.2,
                ls="--",
                label=f"{rid} test of best",
            )
        if len(runs) == 1:
            pts = [(r["eval_index"], r["val_acc"]) for r in rows if r["val_acc"] is not None]
            ax.scatter(
                [p[0] for p in pts],
                [p[1] for p in pts],
                s=9,
                color="0.6",
                zorder=0,
                label="each evaluation (val)",
            )
            imp = [r for r in rows if r["is_improvement"]]
            ax.scatter(
                [r["eval_index"] for r in imp],
                [r["best_val"] for r in imp],
                s=30,
                color=colors[rid],
                zorder=3,
            )
    ax.set_xlabel("evaluations")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Best so far")
    return _save(
        fig,
        out_dir,
        "best_so_far",
        "Best so far",
        "Incumbent (best validation accuracy) after each evaluation; dashed: its test accuracy.",
    )


# ---------------------------------------------------------------------------- Pareto plots
def plot_acc_vs_cost(board: Sequence[Row], key: str, out_dir: Path) -> Plot | None:
    """Validation accuracy against ``key`` ("params" or "flops"), coloured by strategy,
    with the 2-D Pareto front (fewer ``key``, higher accuracy) and the best marked."""
    rows = [
        r
        for r in board
        if r["state"] == "COMPLETE" and r["val_acc"] is not None and (r.get(key) or 0) > 0
    ]
    if not rows:
        return None
    fig, (ax,) = _figure()
    colors = _colors([r["strategy"] for r in rows])
    for strat, col in colors.items():
        sel = [r for r in rows if r["strategy"] == strat]
        ax.scatter(
            [r[key] for r in sel],
            [r["val_acc"] for r in sel],
            s=14,
            alpha=0.7,
            color=col,
            label=strat,
        )
    front = pareto_2d([(float(r[key]), float(r["val_acc"])) for r in rows])
    ax.step(
        [p[0] for p in front],
        [p[1] for p in front],
        where="post",
        color="k",
        lw=1.3,
        label=f"Pareto front ({len(front)})",
    )
    ax.scatter(
        [p[0] for p in front],
        [p[1] for p in front],
        s=36,
        facecolors="none",
        edgecolors="k",
        zorder=3,
    )
    best = max(rows, key=lambda r: r["val_acc"])
    ax.scatter(
        [best[key]],
        [best["val_acc"]],
        marker="*",
        s=220,
        color="gold",
        edgecolors="k",
        zorder=4,
        label="best (val)",
    )
    ax.set_xscale("log")
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.xaxis.set_minor_formatter(NullFormatter())
    label = {"params": "parameters", "flops": "FLOPs (one image)"}.get(key, key)
    ax.set_xlabel(label)
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    title = f"Accuracy vs {label}"
    ax.set_title(title)
    return _save(
        fig,
        out_dir,
        f"acc_vs_{key}",
        title,
        f"Each complete candidate; black: the front of fewer {label} and higher accuracy.",
    )


# ---------------------------------------------------------------------------- learning curves
def plot_learning_curves(curves: Sequence[Row], out_dir: Path) -> Plot | None:
    """Validation (solid) and training (dashed) accuracy per epoch of the top designs."""
    if not curves:
        return None
    fig, axes = _figure(10, 4.2, ncols=2)
    by_cand: dict[str, list[Row]] = {}
    rank: dict[str, int] = {}
    for r in curves:
        by_cand.setdefault(r["candidate_id"], []).append(r)
        rank[r["candidate_id"]] = r["rank"]
    colors = _colors(sorted(by_cand, key=lambda c: rank[c]))
    for cid, rows in by_cand.items():
        ep = [r["epoch"] for r in rows]
        lab = f"#{rank[cid]} {cid[:8]}"
        axes[0].plot(
            ep, [r["val_acc"] for r in rows], color=colors[cid], marker="o", ms=3, label=lab
        )
        axes[0].plot(ep, [r["train_acc"] for r in rows], color=colors[cid], ls="--", lw=1)
        axes[1].plot(
            ep, [r["val_loss"] for r in rows], color=colors[cid], marker="o", ms=3, label=lab
        )
        axes[1].plot(ep, [r["train_loss"] for r in rows], color=colors[cid], ls="--", lw=1)
    axes[0].set_ylabel("accuracy")
    axes[1].set_ylabel("loss")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    axes[0].set_title("Accuracy (solid: val, dashed: train)")
    axes[1].set_title("Loss (solid: val, dashed: train)")
    return _save(
        fig,
        out_dir,
        "learning_curves",
        "Learning curves of the top designs",
        "The five best complete candidates by validation accuracy.",
    )


# ---------------------------------------------------------------------------- tree
def tree_layout(nodes: Sequence[TreeNode]) -> dict[str, tuple[float, float]]:
    """x = depth, y = leaf order (parents centred over their children); orphans are roots."""
    ids = {n.candidate_id for n in nodes}
    children: dict[str | None, list[str]] = {}
    for n in nodes:
        parent = n.parent_id if n.parent_id in ids else None
        children.setdefault(parent, []).append(n.candidate_id)
    pos: dict[str, tuple[float, float]] = {}
    next_y = [0.0]

    visiting: set[str] = set()

    def place(cid: str, depth: int) -> float:
        visiting.add(cid)
        kids = children.get(cid, [])
        stack_ys = [place(k, depth + 1) for k in kids if k not in pos and k not in visiting]
        if stack_ys:
            y = sum(stack_ys) / len(stack_ys)
        else:
            y = next_y[0]
            next_y[0] += 1
        pos[cid] = (float(depth), y)
        return y

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(nodes) + 100))
    try:
        for root in children.get(None, []):
            place(root, 0)
        for n in nodes:  # cycles or unreachable nodes: place them as roots
            if n.candidate_id not in pos:
                place(n.candidate_id, 0)
    finally:
        sys.setrecursionlimit(limit)
    return pos


def plot_tree(nodes: Sequence[TreeNode], out_dir: Path, from_events: bool = True) -> Plot | None:
    """The modification tree: each node a candidate (colour = validation accuracy, red x =
    failed), each edge parent -> child; the best node is starred."""
    if not nodes:
        return None
    from matplotlib.collections import LineCollection

    pos = tree_layout(nodes)
    leaves = max(y for _, y in pos.values()) + 1
    depth = max(x for x, _ in pos.values()) + 1
    h = min(30.0, max(4.0, 0.28 * leaves))
    fig, (ax,) = _figure(min(16.0, max(8.0, 1.2 * depth + 3)), h)
    segs = [
        [pos[n.parent_id], pos[n.candidate_id]]
        for n in nodes
        if n.parent_id in pos and n.parent_id != n.candidate_id
    ]
    ax.add_collection(LineCollection(segs, colors="0.6", linewidths=0.8, zorder=1))
    ok = [n for n in nodes if n.val_acc is not None]
    bad = [n for n in nodes if n.val_acc is None and n.state not in ("", "PENDING")]
    pending = [n for n in nodes if n.val_acc is None and n.state in ("", "PENDING")]
    if pending:
        ax.scatter(
            [pos[n.candidate_id][0] for n in pending],
            [pos[n.candidate_id][1] for n in pending],
            color="0.75",
            s=40,
            zorder=2,
            label="not evaluated yet",
        )
    if ok:
        sc = ax.scatter(
            [pos[n.candidate_id][0] for n in ok],
            [pos[n.candidate_id][1] for n in ok],
            c=[float(n.val_acc or 0.0) for n in ok],
            cmap="viridis",
            s=50,
            zorder=2,
            edgecolors="k",
            linewidths=0.4,
        )
        fig.colorbar(sc, ax=ax, label="validation accuracy", shrink=0.6)
        best = max(ok, key=lambda n: n.val_acc or 0.0)
        bx, by = pos[best.candidate_id]
        ax.scatter(
            [bx],
            [by],
            marker="*",
            s=260,
            color="gold",
            edgecolors="k",
            zorder=3,
            label=f"best {best.val_acc:.3f}",
        )
    if bad:
        ax.scatter(
            [pos[n.candidate_id][0] for n in bad],
            [pos[n.candidate_id][1] for n in bad],
            marker="x",
            color="#d62728",
            s=40,
            zorder=2,
            label="failed",
        )
    if len(nodes) <= 80:
        for n in nodes:
            x, y = pos[n.candidate_id]
            text = f"{n.val_acc:.3f}" if n.val_acc is not None else n.state[:4].lower()
            ax.annotate(text, (x, y), xytext=(6, 3), textcoords="offset points", fontsize=7)
    ax.set_xlim(-0.5, depth - 0.3)
    ax.set_ylim(-1, leaves)
    ax.invert_yaxis()
    ax.set_xlabel("depth (modifications from the root)")
    ax.set_yticks([])
    ax.legend(fontsize=8, loc="best")
    source = "tree_node events" if from_events else "candidate parents"
    ax.set_title(f"Modification tree ({len(nodes)} nodes, from {source})")
    return _save(
        fig,
        out_dir,
        "tree",
        "Modification tree",
        f"Lineage of the candidates from {source}; labels are validation accuracies.",
    )


# ---------------------------------------------------------------------------- archives
def plot_archives(archives: Sequence[ArchiveSnapshot], out_dir: Path) -> Plot | None:
    """One heatmap per archive: best fitness of each niche (blank = empty niche)."""
    if not archives:
        return None
    import numpy as np

    fig, axes = _figure(5.2 * len(archives), 4.6, ncols=len(archives))
    for ax, a in zip(axes, archives, strict=True):
        nx, ny = a.dims
        grid = np.full((ny, nx), np.nan)
        for i, j, f, _ in a.cells:
            if 0 <= i < nx and 0 <= j < ny:
                grid[j, i] = f if math.isnan(grid[j, i]) else max(grid[j, i], f)
        extent = None
        if a.ranges:
            (x0, x1), (y0, y1) = a.ranges
            extent = (x0, x1, y0, y1)
        im = ax.imshow(
            grid,
            origin="lower",
            aspect="auto",
            cmap="viridis",
            extent=extent,
            interpolation="nearest",
        )
        fig.colorbar(im, ax=ax, label="fitness (best in niche)", shrink=0.8)
        filled = int(np.isfinite(grid).sum())
        what = (
            f"{len(a.cells)} elites in {a.niches} niches"
            if a.niches
            else f"{filled}/{nx * ny} niches filled"
        )
        ax.set_title(f"{a.name}: {what} (iteration {a.iteration})", fontsize=10)
        ax.set_xlabel(a.labels[0])
        ax.set_ylabel(a.labels[1])
    return _save(
        fig,
        out_dir,
        "archive",
        "Quality-diversity archives",
        "Latest snapshot of each archive; colour = fitness of the niche's elite.",
    )


# ---------------------------------------------------------------------------- principles
def plot_principles(history: Sequence[Row], out_dir: Path) -> Plot | None:
    """Search-space size (log) and number of principles per LAPT iteration."""
    if not history:
        return None
    fig, (ax,) = _figure(8, 3.8)
    it = [int(p.get("iteration") or k) for k, p in enumerate(history)]
    n = [len(p.get("principles") or []) for p in history]
    ax.bar(it, n, color="#9467bd", alpha=0.6, label="principles")
    ax.set_xlabel("iteration")
    ax.set_ylabel("number of principles")
    sizes = [p.get("space_size") for p in history]
    if any(isinstance(s, (int, float)) and s > 0 for s in sizes):
        ax2 = ax.twinx()
        ax2.plot(
            [i for i, s in zip(it, sizes, strict=True) if s],
            [s for s in sizes if s],
            color="k",
            marker="o",
            label="search-space size",
        )
        ax2.set_yscale("log")
        ax2.set_ylabel("search-space size (architectures)")
        ax2.legend(fontsize=8, loc="upper right")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_xticks(it)
    ax.set_title("Principle history")
    return _save(
        fig,
        out_dir,
        "principles",
        "Principle history",
        "Principles per iteration and the size of the search space they leave.",
    )


# ---------------------------------------------------------------------------- failures
def plot_failures(by_kind: Sequence[Row], by_proposer: Sequence[Row], out_dir: Path) -> Plot | None:
    """Failed evaluations by state/error kind, and failure rate by strategy/agent."""
    if not by_kind:
        return None
    fig, axes = _figure(11, max(3.2, 0.35 * max(len(by_kind), len(by_proposer)) + 1.5), ncols=2)
    labels = [f"{r['state']} · {r['error_kind']}" for r in by_kind][::-1]
    states = _colors(sorted({r["state"] for r in by_kind}))
    axes[0].barh(
        labels, [r["n"] for r in by_kind][::-1], color=[states[r["state"]] for r in by_kind][::-1]
    )
    axes[0].set_xlabel("failed evaluations")
    axes[0].set_title("Failures by kind")
    rows = [r for r in by_proposer if r["evaluated"]][::-1]
    axes[1].barh(
        [f"{r['strategy']} / {r['agent']}" for r in rows],
        [r["failure_rate"] for r in rows],
        color="#d62728",
        alpha=0.7,
    )
    for k, r in enumerate(rows):
        axes[1].annotate(
            f"{r['failed']}/{r['evaluated']}",
            (r["failure_rate"], k),
            xytext=(3, -3),
            textcoords="offset points",
            fontsize=8,
        )
    axes[1].set_xlabel("failure rate")
    axes[1].set_xlim(0, max([r["failure_rate"] for r in rows] + [0.1]) * 1.3)
    axes[1].set_title("Failure rate by proposer")
    return _save(
        fig,
        out_dir,
        "failures",
        "Failure breakdown",
        "Failed evaluations (any state but COMPLETE) by error kind and by proposer.",
    )


# ---------------------------------------------------------------------------- LLM cost
def plot_llm_cost(
    calls: Sequence[Row], by_agent: Sequence[Row], improvements: Sequence[Row], out_dir: Path
) -> Plot | None:
    """Cumulative LLM dollars over calls with the improvements marked, and dollars/tokens by
    agent."""
    if not calls and not any((r.get("cum_usd") or 0) > 0 for r in improvements):
        return None
    fig, axes = _figure(11, 4.2, ncols=2)
    ax = axes[0]
    if calls:
        cum = 0.0
        ys = []
        for c in calls:
            cum += float(c["usd"] or 0.0)
            ys.append(cum)
        t0 = float(calls[0]["created_at"] or 0.0)
        ax.plot(
            [(float(c["created_at"] or t0) - t0) / 3600 for c in calls],
            ys,
            color="#1f77b4",
            label="cumulative $",
        )
        ax.set_xlabel("hours since the first LLM call")
        imp = [r for r in improvements if r.get("cum_usd") is not None and r.get("finished_at")]
        if imp:  # each new incumbent at the spend reached when its result arrived
            ax.scatter(
                [(float(r["finished_at"]) - t0) / 3600 for r in imp],
                [float(r["cum_usd"]) for r in imp],
                color="#2ca02c",
                s=40,
                zorder=3,
                label=f"new best ({len(imp)})",
            )
            for r in imp:
                ax.annotate(
                    f"{r['best_val']:.3f}",
                    ((float(r["finished_at"]) - t0) / 3600, float(r["cum_usd"])),
                    xytext=(4, -10),
                    textcoords="offset points",
                    fontsize=7,
                    color="#2ca02c",
                )
    else:
        ax.step(
            [r["eval_index"] for r in improvements],
            [r["cum_usd"] for r in improvements],
            where="post",
            label="cumulative $ at each new best",
        )
        ax.set_xlabel("evaluations")
    ax.set_ylabel("US dollars")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("LLM spend")
    ax = axes[1]
    if by_agent:
        agg: dict[str, list[float]] = {}
        for r in by_agent:
            a = agg.setdefault(r["agent"], [0.0, 0.0])
            a[0] += float(r["usd"] or 0.0)
            a[1] += float((r["tokens_in"] or 0) + (r["tokens_out"] or 0))
        names = sorted(agg, key=lambda k: agg[k][0])
        ax.barh(names, [agg[k][0] for k in names], color="#ff7f0e")
        for k, name in enumerate(names):
            ax.annotate(
                f"{agg[name][1] / 1000:.0f}k tok",
                (agg[name][0], k),
                xytext=(3, -3),
                textcoords="offset points",
                fontsize=8,
            )
        ax.set_xlim(0, max(v[0] for v in agg.values()) * 1.35 + 1e-9)
        ax.set_xlabel("US dollars")
        ax.set_title("LLM spend by agent")
    else:
        ax.set_axis_off()
    return _save(
        fig,
        out_dir,
        "llm_cost",
        "LLM cost",
        "Where the LLM money went: cumulative spend (green: new incumbents) and by agent.",
    )
