"""``archlab report``: one self-contained, interactive HTML page about a run, optionally
compared with other runs.

The page embeds plotly.js (the offline bundle of the pinned ``plotly`` package: no CDN, it
opens offline) and its figures (:mod:`analysis.interactive`: hover, zoom, pan), a sortable,
filterable table of every candidate, drawings of the top designs' blocks (the ``archlab
graph draw`` code) and, per method, its own view: NADER's modification tree (collapsed to
the best lineages beyond 50 nodes), LLMatic's archives as heatmaps per iteration, LAPT's
principles as a history of changes. Sections of other methods are left out.

Opening the page with ``#selftest`` makes it check itself (every figure drew its points,
hover data exist, the table sorts) and write the result into ``<html data-selftest>``: what
the headless-Chromium test reads.

    >>> result = build_report(RunSource.open("runs/r1"), out_dir="runs/r1/report")  # doctest: +SKIP
    >>> result.index                                                              # doctest: +SKIP
    PosixPath('runs/r1/report/index.html')
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis import interactive as ix
from analysis.chance import chance_accuracy
from analysis.data import RunData, collect, rung_summary
from analysis.queries import fetch
from analysis.selection import SELECTION_NOTE, tests_after_selection
from analysis.source import RunSource, connect_runs

__all__ = ["NO_DATA", "ReportResult", "build_report", "compare_warnings"]

NO_DATA = "no data for this section in this run"
Row = dict[str, Any]
TABLE_COLS = ("rank", "val_acc", "test_acc", "state", "params", "flops", "epochs_run",
              "wall_seconds", "strategy", "agent", "candidate_id", "arch")  # fmt: skip


@dataclass
class ReportResult:
    index: Path  # the HTML page
    figures: list[ix.Figure] = field(default_factory=list)
    empty_sections: list[str] = field(default_factory=list)  # section ids without data
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # e.g. compared runs that differ

    @property
    def plots(self) -> list[ix.Figure]:
        return self.figures


@dataclass
class _Section:
    id: str
    title: str
    body: str
    empty: bool = False


def compare_warnings(runs: Sequence[RunSource]) -> list[str]:
    """What makes the runs' accuracies incomparable: different datasets or metrics (table
    lookup vs training, fidelity, epochs)."""
    if len(runs) < 2:
        return []

    def metric(r: RunSource) -> str:
        t = r.facts.train
        if t.evaluator == "table":
            return f"table lookup at {t.table_fidelity} epochs"
        return f"training for {t.epochs} epochs"

    out = []
    for what, get in (("datasets", lambda r: r.facts.train.dataset),
                      ("metrics", metric)):  # fmt: skip
        values = {r.run_id: get(r) for r in runs}
        if len(set(values.values())) > 1:
            listed = ", ".join(f"{rid}: {v}" for rid, v in values.items())
            out.append(f"The compared runs have different {what} ({listed}): their "
                       "accuracies are not comparable.")  # fmt: skip
    return out


def build_report(
    run: RunSource,
    compare: Sequence[RunSource] = (),
    out_dir: str | Path | None = None,
) -> ReportResult:
    """Write ``out_dir/index.html`` (default ``<run_dir>/report``)."""
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
    warnings = compare_warnings(runs)
    strategy = run.facts.strategy
    # table runs: the test accuracy of each incumbent, looked up after selection
    archs = {r["candidate_id"]: str(r["arch"] or "") for r in data.leaderboard}
    incumbents = {str(r["best_candidate_id"]) for r in curves.get(run.run_id, [])
                  if r.get("best_candidate_id") and r.get("best_test") is None}  # fmt: skip
    test_after = tests_after_selection(run.facts, {c: archs[c] for c in incumbents if c in archs})
    figures: list[ix.Figure] = []
    sections: list[_Section] = []

    def fig(f: ix.Figure | None) -> str:
        if f is None:
            return ""
        figures.append(f)
        cls = "fig wide" if f.wide else "fig"
        return (f'<figure class="{cls}"><div class="plot" id="plot-{_esc(f.id)}" '
                f'data-fig="{len(figures) - 1}"></div><figcaption>{_esc(f.caption)}'
                "</figcaption></figure>")  # fmt: skip

    def add(sid: str, title: str, body: str, empty_note: str = NO_DATA) -> None:
        empty = not body.strip()
        sections.append(_Section(sid, title, body if not empty else _note(empty_note), empty))

    add("summary", "Summary", "".join(f'<p class="warn">{_esc(w)}</p>' for w in warnings)
        + _summary(run, data, test_after))  # fmt: skip
    cmp_note = f"Compared with: {', '.join(r.run_id for r in runs[1:])}." if len(runs) > 1 else ""
    chance = chance_accuracy(run.facts.train.dataset)
    add("best-so-far", "Best so far",
        fig(ix.fig_best_so_far(curves, chance, test_after)) + (_p(cmp_note) if cmp_note else ""))  # fmt: skip
    body = fig(ix.fig_acc_vs_cost(data.leaderboard, "params"))
    body += fig(ix.fig_acc_vs_cost(data.leaderboard, "flops"))
    if not any((r.get("flops") or 0) > 0 for r in data.complete) and data.complete:
        body += _note("no FLOPs recorded in this run (the evaluator did not measure them)")
    if data.pareto and body:
        body += _details(f"Pareto front over (validation accuracy, parameters, FLOPs): "
                         f"{len(data.pareto)} candidates", _table(
            data.pareto, ["candidate_id", "strategy", "val_acc", "test_acc", "params", "flops",
                          "arch"]))  # fmt: skip
    add("pareto", "Accuracy vs parameters and FLOPs", _grid(body))
    add(
        "top-designs",
        "Top designs",
        _grid(_designs(data) + fig(ix.fig_learning_curves(data.curves))),
    )
    add("candidates", f"Candidates ({len(data.leaderboard)})", _candidate_table(data, test_after))
    if data.rungs:  # a fidelity schedule (issue 25): promotions per rung
        finals = {str(r["candidate_id"]): r["val_acc"] for r in data.leaderboard
                  if r["state"] == "COMPLETE"}  # fmt: skip
        body = fig(ix.fig_promotions(data.rungs, finals))
        body += _table(rung_summary(data.rungs), ["rung_epochs", "reached", "promoted",
                                                  "stopped", "best_val", "median_val"])  # fmt: skip
        add("fidelity", "Fidelity rungs (promotions)", body)
    if strategy == "nader" or data.tree_from_events:
        body = fig(ix.fig_tree(data.tree))
        if body:
            body += _details("Best nodes", _tree_table(data))
        add("tree", "Modification tree (NADER)", body)
    if (
        strategy == "llmatic"
        or data.archive_history
        or any(str(r["strategy"]).startswith("llmatic") for r in data.leaderboard)
    ):
        body = ""
        by_name: dict[str, list[Any]] = {}
        for a in data.archive_history:
            by_name.setdefault(a.name, []).append(a)
        if not by_name:  # no archive events: the archive derived from the results
            by_name = {a.name: [a] for a in data.archives}
        for snaps in by_name.values():
            body += fig(ix.fig_archive_history(snaps))
        if body and not data.archive_history:
            body += _note("derived from the results: the run stored no 'archive' events")
        add("archive", "Archives per iteration (LLMatic)", _grid(body))
    if strategy == "lapt" or data.principles:
        body = ""
        if data.principles:
            body = _grid(fig(ix.fig_principles(data.principles))
                         + f'<div class="fig">{_principle_changes(data.principles)}</div>')  # fmt: skip
        add("principles", "Principle history (LAPT)", body)
    body = fig(ix.fig_failures(data.failures_by_kind))
    if body:
        body += _details("Failures by kind and by proposer",
                         _table(data.failures_by_kind, ["state", "error_kind", "n", "example"])
                         + _table(data.failures_by_proposer, ["strategy", "agent", "evaluated",
                                  "failed", "failure_rate", "failure_states"]))  # fmt: skip
        body = _grid(body)
    elif data.leaderboard:
        body = _note("no failed evaluations in this run")
    add("failures", "Failure breakdown", body)
    body = fig(ix.fig_llm_cost(data.llm_calls))
    if body:
        body += _details("Tokens and dollars per improvement, by agent", _table(
            data.llm_per_improvement,
            ["improvement", "eval_index", "candidate_id", "best_val", "gain",
             "tokens_since_previous", "usd_since_previous", "cum_tokens", "cum_usd"],
        ) + _table(data.llm_by_agent, ["agent", "model", "calls", "errors", "cache_hits",
                                        "tokens_in", "tokens_out", "usd", "mean_latency_s"]))  # fmt: skip
        if data.llm_per_architecture:
            first = data.llm_per_architecture[0]
            body += _details(
                "Tokens and dollars per trained architecture",
                _note(
                    f"{first['run_tokens']} tokens, ${first['run_usd']} over "
                    f"{first['architectures']} trained architectures: "
                    f"{first['tokens_per_architecture']} tokens and "
                    f"${first['usd_per_architecture']} per architecture "
                    f"({first['unattributed_requests']} of {first['run_requests']} requests "
                    "name no candidate)"
                )
                + _table(data.llm_per_architecture, ["eval_index", "candidate_id", "state",
                         "val_acc", "requests", "tokens_in", "tokens_out", "usd",
                         "trial_tokens"]),
            )  # fmt: skip
        body = _grid(body)
    add("llm-cost", "LLM cost", body)
    if len(runs) > 1 or len({r["strategy"] for r in comparison}) > 1:
        add("comparison", "Per-strategy comparison" + (" across runs" if len(runs) > 1 else ""),
            _table(comparison, ["run_id", "strategy", "evaluated", "complete", "failure_rate",
                                "best_val", "test_at_best_val", "eval_of_best", "median_val",
                                "gpu_hours", "run_llm_usd"]))  # fmt: skip
    add("config", "Configuration", _details("config.yaml and manifest.json", _config(run)))
    page = _page(run, sections, figures)
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return ReportResult(index, figures, [s.id for s in sections if s.empty],
                        time.monotonic() - t0, warnings)  # fmt: skip


# ---------------------------------------------------------------------------- HTML pieces
def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _p(text: str) -> str:
    return f"<p>{_esc(text)}</p>"


def _note(text: str) -> str:
    return f'<p class="nodata">{_esc(text)}</p>'


def _grid(body: str) -> str:
    return f'<div class="grid">{body}</div>' if body else ""


def _details(summary: str, body: str) -> str:
    if not body:
        return ""
    return f'<details class="fig wide"><summary>{_esc(summary)}</summary>{body}</details>'


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


def _llm_server(run: RunSource, d: RunData) -> list[tuple[str, Any]]:
    """[issue 26] The run's ``llm.serve`` job as its journal has it, and the output speed
    measured from the calls (per agent: tokens out over calls x mean latency)."""
    from nas.controller.journal import read_events
    from nas.llm.serve import ServerView

    view = ServerView.of(read_events(run.run_dir / "journal.jsonl"))
    if view is None:
        return []
    secs = sum(float(r.get("mean_latency_s") or 0) * int(r.get("calls") or 0)
               for r in d.llm_by_agent)  # fmt: skip
    out = sum(int(r.get("tokens_out") or 0) for r in d.llm_by_agent)
    rate = f"; {out / secs:.1f} output tokens/s" if secs > 0 else ""
    return [("LLM server (llm.serve)", view.line() + rate)]


def _summary(run: RunSource, d: RunData, test_after: dict[str, float]) -> str:
    m = run.manifest
    c = d.counts
    best = d.best
    table_run = run.facts.train.evaluator == "table"
    gpu = round(float(c.get("gpu_hours") or 0.0), 3)
    items: list[tuple[str, Any]] = [
        ("run", run.run_id),
        ("created", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m["created"]))
         if m.get("created") else ""),
        ("code version", m.get("code_version", "")),
        ("strategy", run.facts.strategy),
        ("dataset", run.facts.train.dataset),
        ("candidates / evaluated / complete",
         f"{c.get('candidates', 0)} / {c.get('evaluated', 0)} / {c.get('complete', 0)}"),
        ("GPU hours", f"{gpu} (modelled: FLOPs cost model of table lookups, nothing trained)"
         if table_run else gpu),
        ("LLM calls / dollars", f"{c.get('llm_calls', 0)} / {float(c.get('llm_usd') or 0):.4f}"),
        *_llm_server(run, d),
    ]  # fmt: skip
    if best:
        test, note = best["test_acc"], ""
        if test is None and best["candidate_id"] in test_after:
            test, note = test_after[best["candidate_id"]], f" ({SELECTION_NOTE})"
        items += [
            ("best candidate", best["candidate_id"]),
            ("best val / test", f"{_fmt(best['val_acc'])} / {_fmt(test)}{note}"),
            ("best params / FLOPs", f"{_fmt(best['params'])} / {_fmt(best['flops'])}"),
        ]
    half = (len(items) + 1) // 2
    cols = []
    for part in (items[:half], items[half:]):
        rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(_fmt(v))}</td></tr>" for k, v in part)
        cols.append(f'<table class="kv">{rows}</table>')
    out = f'<div class="grid">{"".join(cols)}</div>'
    if not d.leaderboard:
        out += _note("this run has no evaluated candidates yet")
    elif best:
        out += _p(f"Export the best: archlab best {run.run_id} --export DIR")
    return out


def _designs(d: RunData, top: int = 3) -> str:
    """The block of each of the ``top`` best designs, drawn by ``archlab graph draw``'s code."""
    from nas.graph import nb201_to_graph, parse_blocks
    from nas.graph.draw import to_svg

    parts = []
    for rank, r in enumerate(d.complete[:top], 1):
        try:
            if r["arch_kind"] == "nb201":
                g = nb201_to_graph(str(r["arch"]))
            elif r["arch_kind"] == "block":
                g = next(iter(parse_blocks(str(r["arch"])).values()))
            else:
                continue
            svg = _scalable(to_svg(g))
        except Exception:  # a design that cannot be drawn is listed without a picture
            svg = '<p class="small">(cannot be drawn)</p>'
        parts.append(
            f'<div class="design"><h4>#{rank} {_esc(r["candidate_id"])} · val '
            f"{_fmt(r['val_acc'])} · {_fmt(r['params'])} params</h4>"
            f'<div class="svg">{svg}</div></div>'
        )
    if not parts:
        return ""
    return f'<div class="fig wide designs">{"".join(parts)}</div>'


def _scalable(svg: str) -> str:
    """The drawing with a viewBox, so that it scales to its box instead of being cut."""
    import re

    m = re.match(r'<svg ([^>]*?)width="([\d.]+)" height="([\d.]+)"', svg)
    if not m:
        return svg
    w, h = m.group(2), m.group(3)
    box = f'viewBox="0 0 {w} {h}" width="100%" height="300"'
    return svg.replace(f'width="{w}" height="{h}"', box, 1)


def _candidate_table(d: RunData, test_after: dict[str, float]) -> str:
    """Every candidate as JSON rows; the page's script renders, sorts, filters and pages it."""
    if not d.leaderboard:
        return ""
    rows = []
    for r in d.leaderboard:
        row = []
        for c in TABLE_COLS:
            v = r.get(c)
            if c == "test_acc" and v is None:
                v = test_after.get(r["candidate_id"])
            if c == "arch":
                v = _arch_label(str(v or ""), str(r.get("arch_kind") or ""))
            elif isinstance(v, float):
                v = round(v, 4) if c not in ("wall_seconds",) else round(v, 1)
            row.append(v)
        rows.append(row)
    payload = json.dumps({"cols": list(TABLE_COLS), "rows": rows}, separators=(",", ":"))
    return (
        '<div class="ctl"><input id="cand-filter" type="search" placeholder="filter: any text, '
        'e.g. COMPLETE or an id" size="40"> <span id="cand-count"></span> '
        '<button id="cand-prev">◀</button> <button id="cand-next">▶</button></div>'
        '<div class="tw"><table id="cand-table" class="sortable"><thead></thead><tbody></tbody>'
        "</table></div><p class=small>Click a column header to sort (again: reverse).</p>"
        f'<script type="application/json" id="cand-data">{_json_script(payload)}</script>'
    )


def _arch_label(arch: str, kind: str) -> str:
    """One line per architecture: an NB201 string as is; a block file as its operations."""
    if kind != "block" or "\n" not in arch:
        return ix._short(arch, 90)
    ops = [ln.split(":", 1)[1].split("(")[0].strip() for ln in arch.splitlines()
           if ":" in ln and not ln.lstrip().startswith("#")]  # fmt: skip
    ops = [o for o in ops if o not in ("input", "output")]
    return ix._short(f"block of {len(ops)}: " + " ".join(ops), 90)


def _json_script(text: str) -> str:
    return text.replace("</", "<\\/")


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


def _principle_changes(history: Sequence[Row]) -> str:
    """The principles as a history of changes: the first set in full, then per update only
    what was added (+) or dropped (−); runs of updates that changed nothing are one line."""
    parts: list[str] = []
    prev: list[str] = []
    quiet: list[Row] = []  # consecutive updates without a change

    def flush() -> None:
        if not quiet:
            return
        a, b = quiet[0], quiet[-1]
        span = (f"Iterations {a.get('iteration')}–{b.get('iteration')}" if len(quiet) > 1
                else f"Iteration {a.get('iteration')}")  # fmt: skip
        sizes = f" (space {_fmt(a.get('space_size'))} → {_fmt(b.get('space_size'))})" if a.get(
            "space_size") is not None else ""  # fmt: skip
        parts.append(f"<h4>{_esc(span)}: unchanged principles{_esc(sizes)}</h4>")
        quiet.clear()

    for n, p in enumerate(history):
        cur = [str(t) for t in p.get("principles") or []]
        meta = ", ".join(f"{k}: {_fmt(p[k])}" for k in ("space_size", "source")
                         if p.get(k) not in (None, ""))  # fmt: skip
        head = f"Iteration {_esc(p.get('iteration', '?'))}{' — ' + _esc(meta) if meta else ''}"
        if n == 0:
            items = "".join(f"<li>{_esc(t)}</li>" for t in cur)
        else:
            added = [t for t in cur if t not in prev]
            dropped = [t for t in prev if t not in cur]
            items = "".join(f'<li class="add">+ {_esc(t)}</li>' for t in added)
            items += "".join(f'<li class="drop">− {_esc(t)}</li>' for t in dropped)
            if not items:
                quiet.append(p)
                prev = cur
                continue
        flush()
        parts.append(f"<h4>{head}</h4><ul>{items}</ul>")
        prev = cur
    flush()
    final = f"<p class=small>{len(prev)} principles hold now.</p>" if history else ""
    return '<div class="principles">' + "".join(parts) + final + "</div>"


def _config(run: RunSource) -> str:
    text = run.facts.config_text
    man = run.manifest
    out = ""
    if text:
        out += f"<h3>config.yaml</h3><pre>{_esc(text)}</pre>"
    if man:
        out += f"<h3>manifest.json</h3><pre>{_esc(json.dumps(man, indent=2))}</pre>"
    return out


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#243447;color:#fff;padding:12px 24px}header h1{margin:0;font-size:20px}
header p{margin:2px 0 0;color:#cdd6e0;font-size:12px}
nav{padding:6px 24px;background:#e9eef3;font-size:13px;position:sticky;top:0;z-index:5}
nav a{margin-right:12px;color:#243447}
main{padding:4px 24px 30px;max-width:1400px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:4px 14px 10px;margin:10px 0}
h2{font-size:16px;border-bottom:1px solid #eee;padding-bottom:4px;margin:8px 0}h3{font-size:14px}
h4{font-size:12px;margin:8px 0 3px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:10px;align-items:start}
.fig{margin:0;min-width:0}.wide{grid-column:1/-1}.plot{width:100%;min-height:200px}
figcaption{font-size:11px;color:#555}
.nodata{color:#8a6d3b;background:#fcf8e3;border:1px solid #faebcc;padding:6px 10px;border-radius:4px}
.warn{color:#a94442;background:#f2dede;border:1px solid #ebccd1;padding:6px 10px;border-radius:4px;font-weight:bold}
.tw{overflow-x:auto}table{border-collapse:collapse;font-size:12px;margin:4px 0}
th,td{border:1px solid #e1e4e8;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f3f5f7}table.sortable th{cursor:pointer;user-select:none;white-space:nowrap}
table.sortable th.asc:after{content:" ▲"}table.sortable th.desc:after{content:" ▼"}
td.arch{font-family:monospace;font-size:11px;max-width:460px;word-break:break-all}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{width:210px}pre{background:#f6f8fa;padding:8px;font-size:11px;overflow-x:auto;max-height:420px}
.principles ul{margin:2px 0 4px;padding-left:18px;font-size:12px}li.add{color:#1a7f37}
li.drop{color:#a40e26;text-decoration:line-through}li.same{color:#777}.small{font-size:11px;color:#555}
.designs{display:flex;gap:10px;flex-wrap:wrap}.design{flex:1 1 200px;min-width:0}
.design .svg{border:1px solid #eee}
.ctl{font-size:12px;margin:4px 0}details summary{cursor:pointer;font-size:12px;color:#243447}
"""

_SCRIPT = r"""
(function(){
var figs=JSON.parse(document.getElementById('fig-data').textContent);
var done=[];
document.querySelectorAll('div.plot').forEach(function(el){
  var f=figs[+el.dataset.fig];
  done.push(Plotly.newPlot(el,f.data,f.layout,{responsive:true,displaylogo:false}).then(function(){return el;}));
});
var table=document.getElementById('cand-table'),state={key:0,dir:1,page:0,size:25,rows:null};
var cd=document.getElementById('cand-data'),data=cd?JSON.parse(cd.textContent):null;
function cmp(a,b){if(a===b)return 0;if(a===null)return 1;if(b===null)return -1;
  return (typeof a==='number'&&typeof b==='number')?a-b:String(a).localeCompare(String(b));}
function fmt(v,c){if(v===null||v===undefined)return '';if(typeof v==='number'&&(c==='params'||c==='flops'))return v.toLocaleString('en');return String(v);}
function render(){
  if(!data)return;
  var q=(document.getElementById('cand-filter').value||'').toLowerCase();
  var rows=data.rows.filter(function(r){return !q||r.join(' ').toLowerCase().indexOf(q)>=0;});
  var k=state.key,d=state.dir;
  rows.sort(function(a,b){var x=a[k],y=b[k];if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;return d*cmp(x,y);});
  state.rows=rows;
  var pages=Math.max(1,Math.ceil(rows.length/state.size));state.page=Math.min(state.page,pages-1);
  var start=state.page*state.size,part=rows.slice(start,start+state.size);
  var head='<tr>'+data.cols.map(function(c,i){return '<th data-i="'+i+'" class="'+(i===k?(d>0?'asc':'desc'):'')+'">'+c+'</th>';}).join('')+'</tr>';
  table.tHead.innerHTML=head;
  var esc=function(s){return s.replace(/&/g,'&amp;').replace(/</g,'&lt;');};
  table.tBodies[0].innerHTML=part.map(function(r){return '<tr>'+r.map(function(v,i){var c=data.cols[i];
    var cls=c==='arch'?' class="arch"':(typeof v==='number'?' class="num"':'');return '<td'+cls+'>'+esc(fmt(v,c))+'</td>';}).join('')+'</tr>';}).join('');
  document.getElementById('cand-count').textContent='rows '+(rows.length?start+1:0)+'–'+(start+part.length)+' of '+rows.length+(q?' (filtered from '+data.rows.length+')':'');
}
window.archlabSort=function(col,dir){state.key=data.cols.indexOf(col);state.dir=dir;state.page=0;render();
  return table.tBodies[0].rows.length?table.tBodies[0].rows[0].cells[state.key].textContent:null;};
if(data){
  table.tHead.addEventListener('click',function(e){var th=e.target.closest('th');if(!th)return;var i=+th.dataset.i;
    state.dir=(state.key===i)?-state.dir:(typeof data.rows[0][i]==='number'?-1:1);state.key=i;state.page=0;render();});
  document.getElementById('cand-filter').addEventListener('input',function(){state.page=0;render();});
  document.getElementById('cand-prev').addEventListener('click',function(){state.page=Math.max(0,state.page-1);render();});
  document.getElementById('cand-next').addEventListener('click',function(){state.page++;render();});
  render();
}
if(location.hash==='#selftest'){Promise.all(done).then(function(els){
  var res={plots:[],height:document.documentElement.scrollHeight,viewport:window.innerHeight};
  els.forEach(function(el){var f=figs[+el.dataset.fig];
    var svg=el.querySelector('svg.main-svg'),box=svg?svg.getBoundingClientRect():{width:0,height:0};
    var drawn=el.querySelectorAll('.scatterlayer .point, .barlayer .point, .heatmaplayer image, .scatterlayer .js-line').length;
    var hover=(el._fullData||[]).some(function(t){return t.hoverinfo!=='skip'&&(t.hovertemplate||t.text);});
    res.plots.push({id:f.id,width:box.width,height:box.height,drawn:drawn,expected:f.points,hover:hover});});
  if(data){var vi=data.cols.indexOf('val_acc'),vals=data.rows.map(function(r){return r[vi];}).filter(function(v){return v!==null;});
    res.sort={desc_first:window.archlabSort('val_acc',-1),asc_first:window.archlabSort('val_acc',1),
      max:Math.max.apply(null,vals),min:Math.min.apply(null,vals),rows:data.rows.length};
    window.archlabSort('rank',1);}
  var bs=els.filter(function(el){return figs[+el.dataset.fig].id==='best-so-far';})[0];
  if(bs){res.best_so_far_range=bs._fullLayout.yaxis.range;}
  document.documentElement.setAttribute('data-selftest',JSON.stringify(res));
});}
})();
"""


def _finite(obj: Any) -> Any:
    """``obj`` with NaN/inf floats as None (JSON has no NaN; plotly skips nulls)."""
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _page(run: RunSource, sections: Sequence[_Section], figures: Sequence[ix.Figure]) -> str:
    nav = "".join(f'<a href="#{s.id}">{_esc(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{s.id}" class="{"empty" if s.empty else "filled"}"><h2>{_esc(s.title)}</h2>{s.body}</section>'
        for s in sections
    )
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    specs = json.dumps(_finite([f.spec() for f in figures]), separators=(",", ":"),
                       allow_nan=False, default=str)  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>archlab report: {_esc(run.run_id)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style><script>{_plotly_js()}</script></head><body>"
        f"<header><h1>archlab report — {_esc(run.run_id)}</h1>"
        f"<p>{_esc(str(run.run_dir))} · generated {stamp} · plots: hover for details, drag "
        "to zoom, double-click to reset</p></header>"
        f"<nav>{nav}</nav><main>{body}</main>"
        f'<script type="application/json" id="fig-data">{_json_script(specs)}</script>'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )
