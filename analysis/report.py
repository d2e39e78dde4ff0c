"""``archlab report``: one self-contained HTML page (no CDN, no scripts; plots embedded as
base64 PNG, with PNG and SVG files written beside it) about a run, optionally compared with
other runs.

    >>> result = build_report(RunSource.open("runs/r1"), out_dir="runs/r1/report")  # doctest: +SKIP
    >>> result.index                                                              # doctest: +SKIP
    PosixPath('runs/r1/report/index.html')
"""

from __future__ import annotations

import base64
import html
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis import plots
from analysis.data import RunData, collect
from analysis.queries import fetch
from analysis.source import RunSource, connect_runs

__all__ = ["NO_DATA", "ReportResult", "build_report"]

NO_DATA = "no data for this section in this run"
Row = dict[str, Any]


@dataclass
class ReportResult:
    index: Path  # the HTML page
    plots: list[plots.Plot] = field(default_factory=list)
    empty_sections: list[str] = field(default_factory=list)  # section ids without data
    seconds: float = 0.0


@dataclass
class _Section:
    id: str
    title: str
    body: str
    empty: bool = False


def build_report(
    run: RunSource,
    compare: Sequence[RunSource] = (),
    out_dir: str | Path | None = None,
) -> ReportResult:
    """Write ``out_dir/index.html`` (default ``<run_dir>/report``) and the plot files."""
    t0 = time.monotonic()
    out = Path(out_dir) if out_dir else run.run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    runs = [run, *[c for c in compare if c.run_id != run.run_id]]
    con = connect_runs(runs)
    try:
        data = collect(con, run.run_id)
        bsf_all = fetch(con, "best_so_far")
        comparison = fetch(con, "strategy_comparison")
    finally:
        con.close()
    curves: dict[str, list[Row]] = {r.run_id: [] for r in runs}
    for r in bsf_all:
        curves.setdefault(r["run_id"], []).append(r)
    made: list[plots.Plot] = []
    sections: list[_Section] = []

    def figure(p: plots.Plot | None) -> str:
        if p is None:
            return ""
        made.append(p)
        return _img(p, out)

    def add(sid: str, title: str, body: str, empty_note: str = NO_DATA) -> None:
        empty = not body.strip()
        sections.append(_Section(sid, title, body if not empty else _note(empty_note), empty))

    add("summary", "Summary", _summary(run, data))
    cmp_note = f" Compared with: {', '.join(r.run_id for r in runs[1:])}." if len(runs) > 1 else ""
    add(
        "best-so-far",
        "Best so far",
        figure(plots.plot_best_so_far(curves, out)) + (_p(cmp_note) if cmp_note else ""),
    )
    body = figure(plots.plot_acc_vs_cost(data.leaderboard, "params", out))
    body += figure(plots.plot_acc_vs_cost(data.leaderboard, "flops", out))
    if not any((r.get("flops") or 0) > 0 for r in data.complete) and data.complete:
        body += _note("no FLOPs recorded in this run (the evaluator did not measure them)")
    if data.pareto and body:
        body += "<h3>Pareto front over (validation accuracy, parameters, FLOPs)</h3>"
        body += _table(
            data.pareto,
            ["candidate_id", "strategy", "val_acc", "test_acc", "params", "flops", "arch"],
        )
    add("pareto", "Accuracy vs parameters and FLOPs", body)
    add(
        "learning-curves",
        "Learning curves of the top designs",
        figure(plots.plot_learning_curves(data.curves, out)),
    )
    body = figure(plots.plot_tree(data.tree, out, data.tree_from_events))
    if body:
        body += _tree_table(data)
    add("tree", "Modification tree (NADER)", body)
    body = figure(plots.plot_archives(data.archives, out))
    if body and any(a.derived for a in data.archives):
        body += _note("derived from the results: the run stored no 'archive' events")
    add("archive", "Archive heatmap (LLMatic)", body)
    body = figure(plots.plot_principles(data.principles, out))
    if body:
        body += _principles_list(data.principles)
    add("principles", "Principle history (LAPT)", body)
    body = figure(plots.plot_failures(data.failures_by_kind, data.failures_by_proposer, out))
    if body:
        body += _table(data.failures_by_kind, ["state", "error_kind", "n", "example"])
        body += _table(
            data.failures_by_proposer,
            ["strategy", "agent", "evaluated", "failed", "failure_rate", "failure_states"],
        )
    elif data.leaderboard:
        body = _note("no failed evaluations in this run")
    add("failures", "Failure breakdown", body)
    body = figure(
        plots.plot_llm_cost(data.llm_calls, data.llm_by_agent, data.llm_per_improvement, out)
    )
    if body:
        body += "<h3>Tokens and dollars per improvement</h3>" + _table(
            data.llm_per_improvement,
            [
                "improvement",
                "eval_index",
                "candidate_id",
                "best_val",
                "gain",
                "tokens_since_previous",
                "usd_since_previous",
                "cum_tokens",
                "cum_usd",
            ],
        )
        if data.llm_per_architecture:
            first = data.llm_per_architecture[0]
            body += (
                "<h3>Tokens and dollars per trained architecture</h3>"
                + _note(
                    f"{first['run_tokens']} tokens, ${first['run_usd']} over "
                    f"{first['architectures']} trained architectures: "
                    f"{first['tokens_per_architecture']} tokens and "
                    f"${first['usd_per_architecture']} per architecture "
                    f"({first['unattributed_requests']} of {first['run_requests']} requests "
                    "name no candidate)"
                )
                + _table(
                    data.llm_per_architecture,
                    [
                        "eval_index",
                        "candidate_id",
                        "state",
                        "val_acc",
                        "requests",
                        "tokens_in",
                        "tokens_out",
                        "usd",
                        "trial_tokens",
                    ],
                )
            )
        if data.llm_by_agent:
            body += "<h3>By agent and model</h3>" + _table(
                data.llm_by_agent,
                [
                    "agent",
                    "model",
                    "calls",
                    "errors",
                    "cache_hits",
                    "tokens_in",
                    "tokens_out",
                    "usd",
                    "mean_latency_s",
                ],
            )
    add("llm-cost", "LLM cost", body)
    lb_cols = [
        "rank",
        "candidate_id",
        "strategy",
        "agent",
        "state",
        "val_acc",
        "test_acc",
        "params",
        "flops",
        "epochs_run",
        "wall_seconds",
        "arch",
    ]
    top = data.leaderboard[:25]
    more = len(data.leaderboard) - len(top)
    body = (
        _table(top, lb_cols)
        + (
            _p(f"… and {more} more: archlab sql {run.run_id} --query leaderboard")
            if more > 0
            else ""
        )
        if top
        else ""
    )
    add("leaderboard", "Leaderboard", body)
    add(
        "comparison",
        "Per-strategy comparison" + (" across runs" if len(runs) > 1 else ""),
        _table(
            comparison,
            [
                "run_id",
                "strategy",
                "evaluated",
                "complete",
                "failure_rate",
                "best_val",
                "test_at_best_val",
                "eval_of_best",
                "median_val",
                "gpu_hours",
                "run_llm_usd",
            ],
        )
        if comparison
        else "",
    )
    add("config", "Configuration", _config(run))
    page = _page(run, sections)
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return ReportResult(
        index,
        made,
        [s.id for s in sections if s.empty],
        time.monotonic() - t0,
    )


# ---------------------------------------------------------------------------- HTML pieces
def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _p(text: str) -> str:
    return f"<p>{_esc(text)}</p>"


def _note(text: str) -> str:
    return f'<p class="nodata">{_esc(text)}</p>'


def _img(p: plots.Plot, out: Path) -> str:
    data = base64.b64encode(p.png.read_bytes()).decode("ascii")
    rel_png = p.png.relative_to(out) if p.png.is_relative_to(out) else p.png
    rel_svg = p.svg.relative_to(out) if p.svg.is_relative_to(out) else p.svg
    return (
        f'<figure id="fig-{_esc(p.name)}"><img alt="{_esc(p.title)}" '
        f'src="data:image/png;base64,{data}">'
        f"<figcaption>{_esc(p.caption)} Files: {_esc(rel_png)}, {_esc(rel_svg)}.</figcaption></figure>"
    )


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != v:
            return ""
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10000 else str(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return str(v)


def _table(rows: Sequence[Row], cols: Sequence[str]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            text = _fmt(r.get(c))
            cls = ' class="arch"' if c in ("arch", "example") else ""
            if c == "arch" and "\n" in text:
                text = text.strip().splitlines()[0] + " …"
            cells.append(f"<td{cls}>{_esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="tw"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _summary(run: RunSource, d: RunData) -> str:
    m = run.manifest
    c = d.counts
    best = d.best
    items: list[tuple[str, Any]] = [
        ("run", run.run_id),
        (
            "created",
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m["created"]))
            if m.get("created")
            else "",
        ),
        ("code version", m.get("code_version", "")),
        ("strategy", (run.config.get("strategy") or {}).get("name", "")),
        ("dataset", (run.config.get("train") or {}).get("dataset", "")),
        ("candidates", c.get("candidates", 0)),
        ("evaluated", c.get("evaluated", 0)),
        ("complete", c.get("complete", 0)),
        ("GPU hours", round(float(c.get("gpu_hours") or 0.0), 3)),
        ("LLM calls", c.get("llm_calls", 0)),
        ("LLM dollars", round(float(c.get("llm_usd") or 0.0), 4)),
    ]
    if best:
        items += [
            ("best candidate", best["candidate_id"]),
            ("best val / test", f"{_fmt(best['val_acc'])} / {_fmt(best['test_acc'])}"),
            ("best params / FLOPs", f"{_fmt(best['params'])} / {_fmt(best['flops'])}"),
        ]
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(_fmt(v))}</td></tr>" for k, v in items)
    out = f'<table class="kv">{rows}</table>'
    if not d.leaderboard:
        out += _note("this run has no evaluated candidates yet")
    elif best:
        out += _p(f"Export the best: archlab best {run.run_id} --export DIR")
    return out


def _tree_table(d: RunData) -> str:
    ok = [n for n in d.tree if n.val_acc is not None]
    top = sorted(ok, key=lambda n: -(n.val_acc or 0.0))[:10]
    rows = [
        {
            "candidate_id": n.candidate_id,
            "parent_id": n.parent_id or "(root)",
            "val_acc": n.val_acc,
            "state": n.state,
            "suggestion": n.suggestion,
        }
        for n in top
    ]
    return "<h3>Best nodes</h3>" + _table(
        rows, ["candidate_id", "parent_id", "val_acc", "state", "suggestion"]
    )


def _principles_list(history: Sequence[Row]) -> str:
    parts = []
    seen: set[str] = set()
    for p in history:
        items = []
        for text in p.get("principles") or []:
            new = str(text) not in seen
            seen.add(str(text))
            items.append(f"<li{' class=new' if new else ''}>{_esc(text)}</li>")
        meta = ", ".join(
            f"{k}: {_fmt(p[k])}" for k in ("space_size", "source") if p.get(k) not in (None, "")
        )
        parts.append(
            f"<h4>Iteration {_esc(p.get('iteration', '?'))}{' — ' + _esc(meta) if meta else ''}</h4>"
            f"<ol>{''.join(items)}</ol>"
        )
    return (
        '<div class="principles">'
        + "".join(parts)
        + "<p class=small>New principles are in bold.</p></div>"
    )


def _config(run: RunSource) -> str:
    text = run.config_text
    man = run.manifest
    out = ""
    if text:
        out += f"<h3>config.yaml</h3><pre>{_esc(text)}</pre>"
    if man:
        out += f"<h3>manifest.json</h3><pre>{_esc(json.dumps(man, indent=2))}</pre>"
    return out


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#243447;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#cdd6e0;font-size:13px}
nav{padding:8px 28px;background:#e9eef3;font-size:13px}nav a{margin-right:14px;color:#243447}
main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:8px 18px 14px;margin:16px 0}
h2{font-size:18px;border-bottom:1px solid #eee;padding-bottom:6px}h3{font-size:15px}h4{font-size:13px;margin:10px 0 4px}
figure{margin:8px 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:12px;color:#555}
.nodata{color:#8a6d3b;background:#fcf8e3;border:1px solid #faebcc;padding:8px 12px;border-radius:4px}
.tw{overflow-x:auto}table{border-collapse:collapse;font-size:12px;margin:6px 0}
th,td{border:1px solid #e1e4e8;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f5f7}td.arch{font-family:monospace;font-size:11px;max-width:420px;word-break:break-all}
table.kv th{width:170px}pre{background:#f6f8fa;padding:10px;font-size:12px;overflow-x:auto;max-height:520px}
li.new{font-weight:bold}.small{font-size:12px;color:#555}
"""


def _page(run: RunSource, sections: Sequence[_Section]) -> str:
    nav = "".join(f'<a href="#{s.id}">{_esc(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{s.id}" class="{"empty" if s.empty else "filled"}"><h2>{_esc(s.title)}</h2>{s.body}</section>'
        for s in sections
    )
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>archlab report: {_esc(run.run_id)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>archlab report — {_esc(run.run_id)}</h1>"
        f"<p>{_esc(str(run.run_dir))} · generated {stamp}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>\n"
    )
