"""Pictures of a block: SVG text (pure) and PNG (matplotlib, imported when called).

Layered layout: a node's layer is its longest distance from an input; nodes of a layer sit
side by side in file order; edges are straight lines.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from nas.graph.block import BlockGraph

__all__ = ["draw", "layout", "to_svg"]

_BOX_W, _BOX_H, _GAP_X, _GAP_Y = 190, 28, 20, 26


def layout(g: BlockGraph) -> dict[int, tuple[float, float]]:
    """Centre ``(x, y)`` of every node (pixels, y grows downwards)."""
    layer: dict[int, int] = {}
    order = [n.index for n in g.nodes]
    for _ in range(len(order) + 1):  # longest path by relaxation (tolerates bad graphs)
        changed = False
        for a, b in g.edges:
            if a in layer or not g.inputs_of(a):
                la = layer.setdefault(a, 0)
                if layer.get(b, -1) < la + 1 and la + 1 <= len(order):
                    layer[b] = la + 1
                    changed = True
        if not changed:
            break
    rows: dict[int, list[int]] = {}
    for k in order:
        rows.setdefault(layer.get(k, 0), []).append(k)
    width = max(len(r) for r in rows.values()) * (_BOX_W + _GAP_X)
    pos: dict[int, tuple[float, float]] = {}
    for r, members in rows.items():
        row_w = len(members) * (_BOX_W + _GAP_X)
        x0 = (width - row_w) / 2 + (_BOX_W + _GAP_X) / 2
        for i, k in enumerate(members):
            pos[k] = (x0 + i * (_BOX_W + _GAP_X), 20 + _BOX_H / 2 + r * (_BOX_H + _GAP_Y))
    return pos


def to_svg(g: BlockGraph) -> str:
    """The block as standalone SVG text."""
    pos = layout(g)
    w = max(x for x, _ in pos.values()) + _BOX_W / 2 + 10
    h = max(y for _, y in pos.values()) + _BOX_H / 2 + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
        f'font-family="monospace" font-size="11">',
        '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
        f"<title>{escape(g.name)}</title>",
    ]
    for a, b in g.edges:
        if a in pos and b in pos:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            out.append(
                f'<line x1="{x1:.1f}" y1="{y1 + _BOX_H / 2:.1f}" x2="{x2:.1f}" '
                f'y2="{y2 - _BOX_H / 2:.1f}" stroke="#555" marker-end="url(#a)"/>'
            )
    for n in g.nodes:
        x, y = pos[n.index]
        fill = "#dfe9f7" if n.kind in ("input", "input1", "input2", "output") else "#fff"
        label = f"{n.index}:{n.text}"
        if len(label) > 30:
            label = label[:29] + "…"
        out.append(
            f'<rect x="{x - _BOX_W / 2:.1f}" y="{y - _BOX_H / 2:.1f}" width="{_BOX_W}" '
            f'height="{_BOX_H}" rx="5" fill="{fill}" stroke="#333"/>'
        )
        out.append(f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def draw(g: BlockGraph, path: str | Path) -> Path:
    """Write ``g`` to ``path``: ``.svg`` as SVG text, ``.png`` through matplotlib."""
    p = Path(path)
    if p.suffix.lower() == ".svg":
        p.write_text(to_svg(g), encoding="utf-8")
        return p
    if p.suffix.lower() != ".png":
        raise ValueError(f"cannot draw to {p.name!r}: use a .svg or .png file name")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pos = layout(g)
    w = max(x for x, _ in pos.values()) + _BOX_W
    h = max(y for _, y in pos.values()) + _BOX_H * 2
    fig, ax = plt.subplots(figsize=(max(3.0, w / 100), max(2.0, h / 100)), dpi=100)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    for a, b in g.edges:
        if a in pos and b in pos:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            ax.annotate(
                "",
                xy=(x2, y2 - _BOX_H / 2),
                xytext=(x1, y1 + _BOX_H / 2),
                arrowprops={"arrowstyle": "->", "color": "#555"},
            )
    for n in g.nodes:
        x, y = pos[n.index]
        ax.text(
            x, y, f"{n.index}:{n.text}"[:30], ha="center", va="center", fontsize=7,
            family="monospace", bbox={"boxstyle": "round", "fc": "#fff", "ec": "#333"},
        )  # fmt: skip
    fig.savefig(p, bbox_inches="tight")
    plt.close(fig)
    return p
