"""``archlab best RUN --export DIR``: the best architecture of a run, ready to use elsewhere.

Writes into ``DIR``:

* ``arch.txt`` — the architecture as block text (an NB201 cell as its block graph);
  ``arch.json`` — arch kind, arch text, skeleton, data shape and the full ArchSpec;
* ``model.py`` — readable PyTorch source defining ``Network()`` (no archlab needed): for
  ``nb201`` candidates the network exactly as trained (NAS-Bench-201's), for ``block``
  candidates :func:`nas.graph.export_source` of the spec; its parameter count equals the
  trial record's ``params``. For NB201 cells ``model_graph.py`` adds the block-graph form
  (dead edges pruned, so fewer parameters when the cell has dead convolutions);
* ``weights.pt`` — the trained ``state_dict`` when the run kept the candidate's checkpoint
  (``train.keep_checkpoints=true``), loadable into ``Network()``;
* ``model_card.md`` — data set, recipe, seed, val/test accuracy, params, FLOPs, lineage;
* ``metrics.json`` — the trial record's row.

Reads the store and the run directory only; torch is imported lazily to check the export.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.queries import fetch
from analysis.source import RunSource

if TYPE_CHECKING:
    from nas.train.config import TrainConfig

__all__ = ["DATASET_SHAPES", "ExportError", "ExportResult", "data_shape", "export_best"]

TEMPLATES = Path(__file__).resolve().parent / "templates"

# An NB201 cell string (``|op~0|+|op~0|op~1|+...``): the only text the template takes as is.
_NB201_ARCH = re.compile(r"[|+~A-Za-z0-9_]{1,400}")

# Seconds ``_check`` lets the isolated interpreter build ``model.py``'s network.
_CHECK_TIMEOUT_S = 300.0

# canonical data set -> (num_classes, channels, native image side)
DATASET_SHAPES: dict[str, tuple[int, int, int]] = {
    "demo": (10, 3, 16),
    "digits": (10, 3, 16),
    "cifar10": (10, 3, 32),
    "cifar-10": (10, 3, 32),
    "cifar100": (100, 3, 32),
    "cifar-100": (100, 3, 32),
    "imagenet16": (120, 3, 16),
    "imagenet16-120": (120, 3, 16),
    "imagenet-16-120": (120, 3, 16),
    "imagenet16_120": (120, 3, 16),
}


class ExportError(RuntimeError):
    """The run has nothing to export, or the candidate cannot be exported; says why."""


@dataclass
class ExportResult:
    out_dir: Path
    candidate_id: str
    files: list[Path] = field(default_factory=list)
    params_record: int = 0
    params_model: int | None = None  # measured by building model.py (None: torch missing)
    weights: Path | None = None
    notes: list[str] = field(default_factory=list)


def data_shape(recipe: Mapping[str, Any], train: TrainConfig) -> tuple[int, tuple[int, int, int]]:
    """(num_classes, (channels, H, W)) of the candidate's data: ``recipe`` keys
    ``num_classes``/``input_shape`` when present, else the data set's known shape (the
    run's ``train`` section names the data set and the image size)."""
    dataset = str(recipe.get("dataset") or train.dataset or "cifar10").lower()
    k, c, side = DATASET_SHAPES.get(dataset, (10, 3, 32))
    if recipe.get("num_classes"):
        k = int(recipe["num_classes"])
    size = int(recipe.get("image_size") or train.image_size or 0) or side
    shape = (c, size, size)
    if recipe.get("input_shape"):
        s = [int(x) for x in recipe["input_shape"]]
        shape = (s[0], s[1], s[2])
    return k, shape


def _best_row(src: RunSource, candidate_id: str | None) -> dict[str, Any]:
    con = src.connect()
    try:
        rows = fetch(
            con,
            "SELECT t.*, c.created_at AS cand_created_at FROM trial_results t "
            "LEFT JOIN candidate_rows c USING (run_id, candidate_id) "
            "ORDER BY t.ok DESC, t.val_acc DESC NULLS LAST, t.params NULLS LAST",
        )
        lineage_src = fetch(
            con,
            "SELECT candidate_id, parents, origin_strategy, origin_agent, origin_suggestion "
            "FROM candidate_rows",
        )
        events = fetch(
            con, "SELECT payload FROM events WHERE kind = 'tree_node' ORDER BY created_at"
        )
    finally:
        con.close()
    if not rows:
        raise ExportError(f"run {src.run_id} has no evaluated candidates yet: nothing to export")
    if candidate_id:
        match = [r for r in rows if r["candidate_id"].startswith(candidate_id)]
        if len(match) != 1:
            raise ExportError(
                f"candidate {candidate_id!r} matches {len(match)} evaluated candidates of run "
                f"{src.run_id}; give a longer id prefix (archlab sql {src.run_id} --query leaderboard)"
            )
        row = match[0]
    else:
        row = rows[0]
    if row["state"] != "COMPLETE":
        raise ExportError(
            f"candidate {row['candidate_id']} did not complete ({row['state']}): no trained model "
            "to export; every candidate of the run failed or pick a COMPLETE one with --candidate"
        )
    row["_lineage"] = _lineage(row["candidate_id"], lineage_src, events)
    row["_accs"] = {r["candidate_id"]: r["val_acc"] for r in rows}
    return row


def _lineage(
    cid: str, cands: list[dict[str, Any]], events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """From the root to ``cid``: parent links from ``tree_node`` events, else candidate parents."""
    parent: dict[str, str | None] = {}
    suggestion: dict[str, str] = {}
    for e in events:
        try:
            p = json.loads(e["payload"] or "{}")
        except ValueError:
            continue
        if isinstance(p, dict) and p.get("candidate_id"):
            parent[str(p["candidate_id"])] = p.get("parent_id") or None
            suggestion[str(p["candidate_id"])] = str(p.get("suggestion") or "")
    info = {c["candidate_id"]: c for c in cands}
    for c in cands:
        if c["candidate_id"] not in parent:
            ps = c["parents"] or []
            parent[c["candidate_id"]] = ps[0] if ps else None
            suggestion[c["candidate_id"]] = c["origin_suggestion"] or ""
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    cur: str | None = cid
    while cur and cur not in seen:
        seen.add(cur)
        c = info.get(cur, {})
        chain.append(
            {
                "candidate_id": cur,
                "strategy": c.get("origin_strategy") or "",
                "agent": c.get("origin_agent") or "",
                "suggestion": suggestion.get(cur, ""),
            }
        )
        cur = parent.get(cur)
    return chain[::-1]


def _spec(
    arch_kind: str, arch: str, skeleton: Mapping[str, Any], k: int, shape: tuple[int, int, int]
) -> Any:
    """The ArchSpec as the trainer built it (see ``nas.train.evaluator.candidate_spec``)."""
    from dataclasses import replace

    from nas.graph import nb201_spec, parse_blocks, spec_from_blocks

    width = int(skeleton.get("width", skeleton.get("channels", 16)))
    if arch_kind == "nb201":
        return replace(nb201_spec(arch, width, int(skeleton.get("cells", 5)), k), input_shape=shape)
    return spec_from_blocks(
        parse_blocks(arch),
        kind=str(skeleton.get("macro", "nb201")),
        width=width,
        cells=int(skeleton.get("cells", 5)),
        widths=tuple(int(w) for w in skeleton.get("widths", ())),
        depths=tuple(int(d) for d in skeleton.get("depths", ())),
        num_classes=k,
        input_shape=shape,
    )


def _nb201_source(
    arch: str, skeleton: Mapping[str, Any], k: int, shape: tuple[int, int, int]
) -> str:
    if not _NB201_ARCH.fullmatch(arch):
        raise ExportError(f"{arch[:80]!r} is not an NB201 arch string: not exported")
    text = (TEMPLATES / "nb201_network.py.tmpl").read_text(encoding="utf-8")
    values = {
        "arch": arch,
        "channels": str(int(skeleton.get("channels", skeleton.get("width", 16)))),
        "cells": str(int(skeleton.get("cells", 5))),
        "num_classes": str(k),
        "input_shape": str(tuple(shape)),
    }
    for key, v in values.items():
        text = text.replace("{" + key + "}", v)
    try:
        ast.parse(text)
    except SyntaxError as e:  # pragma: no cover - every value above is checked or an int
        raise ExportError(f"the NB201 template gave invalid Python ({e})") from e
    return text


def _find_weights(src: RunSource, cid: str) -> Path | None:
    ckpt = src.facts.train.checkpoint_dir
    dirs = [Path(ckpt)] if ckpt else []
    dirs += [src.run_dir / "checkpoints", src.run_dir / "weights"]
    for d in dirs:
        for name in (f"{cid}.pt", f"{cid}/model.pt", f"{cid}/final.pt"):
            if (d / name).is_file():
                return d / name
    return None


# Run by ``python -I`` (isolated: no archlab, no user site, no current directory on the
# path): builds ``Network`` from model.py, counts its trainable parameters, loads the
# weights with ``weights_only=True``, prints one JSON line.
_CHECK_SCRIPT = """
import json, runpy, sys
import torch
ns = runpy.run_path(sys.argv[1], run_name="archlab_export_check")
net = ns["Network"]()
out = {"params": sum(p.numel() for p in net.parameters() if p.requires_grad), "load": None}
if len(sys.argv) > 2:
    try:
        net.load_state_dict(torch.load(sys.argv[2], map_location="cpu", weights_only=True))
    except Exception as e:
        out["load"] = str(e)[:2000]
print(json.dumps(out))
"""


def export_best(
    src: RunSource, out_dir: str | Path, *, candidate_id: str | None = None, check: bool = True
) -> ExportResult:
    """Export the best complete candidate of ``src`` (or ``candidate_id``, an id prefix)."""
    row = _best_row(src, candidate_id)
    cid = row["candidate_id"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recipe = json.loads(row["recipe"] or "{}")
    skeleton = dict(recipe.get("skeleton") or {})
    k, shape = data_shape(recipe, src.facts.train)
    res = ExportResult(out, cid, params_record=int(row["params"] or 0))
    arch_kind, arch = row["arch_kind"], row["arch"]
    spec = None
    spec_params = None
    try:
        from nas.graph import cost, export_source, serialize

        spec = _spec(arch_kind, arch, skeleton, k, shape)
        spec_params = cost(spec).params
        block_text = serialize(spec.base)
    except ImportError as e:  # pragma: no cover - nas.graph ships with archlab
        raise ExportError(f"nas.graph is not importable ({e}): cannot export") from e
    except ValueError as e:
        raise ExportError(f"candidate {cid}: its architecture does not build a spec: {e}") from e
    if arch_kind == "nb201":
        source = _nb201_source(arch, skeleton, k, shape)
        graph_src = export_source(spec)
        _write(res, out / "model_graph.py", graph_src)
        if spec_params != res.params_record:
            res.notes.append(
                f"model_graph.py (the cell as a block graph) has {spec_params:,} parameters: "
                "dead edges of the cell are pruned there; model.py is the network as trained."
            )
    elif arch_kind == "block":
        source = export_source(spec)
    else:
        raise ExportError(f"arch_kind {arch_kind!r} has no exporter; exportable: nb201, block")
    _write(res, out / "arch.txt", arch if arch_kind == "block" else arch + "\n\n" + block_text)
    _write(
        res,
        out / "arch.json",
        json.dumps(
            {
                "candidate_id": cid,
                "arch_kind": arch_kind,
                "arch": arch,
                "skeleton": skeleton,
                "num_classes": k,
                "input_shape": list(shape),
                "spec": spec.to_dict(),
            },
            indent=2,
        )
        + "\n",
    )
    _write(res, out / "model.py", source)
    weights = _find_weights(src, cid)
    if weights is not None:
        try:
            res.weights = _export_weights(weights, out / "weights.pt")
        except ExportError as e:  # a checkpoint that is not plain tensors: noted, not loaded
            res.notes.append(str(e))
        else:
            res.files.append(out / "weights.pt")
    if check:
        _check(res, out)
    metrics = {k2: v for k2, v in row.items() if not k2.startswith("_")}
    _write(res, out / "metrics.json", json.dumps(metrics, indent=2, default=str) + "\n")
    _write(res, out / "model_card.md", _card(src, row, recipe, k, shape, res, spec_params))
    return res


def _write(res: ExportResult, path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    res.files.append(path)


def _export_weights(ckpt: Path, dest: Path) -> Path:
    """The model ``state_dict`` of an archlab checkpoint (or a bare state dict) -> ``dest``."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        shutil.copyfile(ckpt, dest)
        return dest
    try:
        obj = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle with code in it is refused, never run
        raise ExportError(
            f"{ckpt} does not load as plain tensors (weights_only=True refused it: "
            f"{str(e)[:300]}): not exported"
        ) from e
    state = obj.get("model", obj) if isinstance(obj, dict) else obj
    torch.save(state, dest)
    return dest


def _check(res: ExportResult, out: Path) -> None:
    """Build ``model.py``'s Network, count its parameters, load the weights when present."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # pragma: no cover
        res.notes.append("torch is not installed here: model.py was not test-built")
        return
    # model.py is never imported here: an isolated interpreter builds it.
    cmd = [sys.executable, "-I", "-c", _CHECK_SCRIPT, str(out / "model.py")]
    if res.weights is not None:
        cmd.append(str(res.weights))
    try:
        proc = subprocess.run(
            cmd, cwd=out, capture_output=True, text=True, timeout=_CHECK_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        res.notes.append(f"model.py was not test-built: it took over {_CHECK_TIMEOUT_S:.0f} s")
        return
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        res.notes.append(
            f"model.py does not build its Network: {proc.stderr.strip()[-500:] or proc.returncode}"
        )
        return
    found = json.loads(lines[-1])
    res.params_model = int(found["params"])
    if res.params_record and res.params_model != res.params_record:
        res.notes.append(
            f"model.py builds {res.params_model:,} parameters but the record says "
            f"{res.params_record:,}: the export does not match the trained network"
        )
    if found["load"] is not None:
        res.notes.append(f"weights.pt does not load into model.py's Network: {found['load']}")


def _fmt_acc(v: Any) -> str:
    return "n/a" if v is None else f"{float(v):.4f}"


def _card(
    src: RunSource,
    row: dict[str, Any],
    recipe: dict[str, Any],
    k: int,
    shape: tuple[int, int, int],
    res: ExportResult,
    spec_params: int | None,
) -> str:
    train = src.facts.train
    man = src.manifest
    dataset = recipe.get("dataset") or train.dataset or "unknown"
    flops = row.get("flops") or 0
    macs = int(row.get("macs") or 0)
    lines = [
        f"# Model card — candidate `{row['candidate_id']}`",
        "",
        f"Best complete candidate of run `{src.run_id}` by validation accuracy "
        f"(exported {time.strftime('%Y-%m-%d %H:%M:%S')} by `archlab best --export`).",
        "",
        "## Results",
        "",
        "| metric | value |",
        "|---|---|",
        f"| validation accuracy (selection) | {_fmt_acc(row.get('val_acc'))} |",
        f"| test accuracy (reported, never used to select) | {_fmt_acc(row.get('test_acc'))} |",
        f"| train accuracy | {_fmt_acc(row.get('train_acc'))} |",
        f"| parameters (record) | {int(row.get('params') or 0):,} |",
        f"| parameters (model.py, built) | "
        f"{'not checked' if res.params_model is None else f'{res.params_model:,}'} |",
        f"| FLOPs (one image) | {f'{int(flops):,}' if flops else 'not measured'} |",
        f"| MACs | {f'{macs:,}' if macs else 'not measured'} |",
        f"| epochs run | {row.get('epochs_run')} |",
        f"| wall seconds / GPU seconds | {float(row.get('wall_seconds') or 0):.1f} / "
        f"{float(row.get('gpu_seconds') or 0):.1f} |",
        f"| evaluator | {row.get('evaluator') or ''} |",
        "",
        "## Data",
        "",
        f"- data set: **{dataset}** ({k} classes, input {shape[0]}x{shape[1]}x{shape[2]})",
        f"- validation fraction: {train.val_fraction}; split file: "
        f"{train.split_file or 'none (seeded stratified split)'}",
        "",
        "## Training recipe",
        "",
        f"- seed: {row.get('seed')} (run seed {src.facts.seed})",
        "",
        "```json",
        json.dumps(recipe, indent=2, sort_keys=True),
        "```",
        "",
        "## Architecture",
        "",
        f"- kind: `{row['arch_kind']}`; proposed by strategy `{row.get('strategy')}`, "
        f"agent `{row.get('agent')}`",
        "- block text: `arch.txt`; full spec: `arch.json`; PyTorch source: `model.py` "
        "(`from model import Network; net = Network()`)",
    ]
    if row["arch_kind"] == "nb201":
        lines.append(f"- NB201 cell: `{row['arch']}`")
        if spec_params is not None:
            lines.append(
                f"- `model_graph.py`: the same cell compiled from its block graph "
                f"({spec_params:,} parameters; dead edges pruned)"
            )
    lines += ["", "## Weights", ""]
    if res.weights is not None:
        lines.append(
            "`weights.pt`: the trained state dict (`net.load_state_dict(torch.load('weights.pt'))`)."
        )
    else:
        lines.append(
            "Not exported: the run did not keep this candidate's trained weights (run with "
            "`train.keep_checkpoints=true` to keep them, or retrain with the recipe above)."
        )
    chain = row.get("_lineage") or []
    lines += ["", "## Lineage", ""]
    if len(chain) > 1:
        accs = row.get("_accs") or {}
        lines.append("From the root of the modification tree to this candidate:")
        lines.append("")
        for depth, step in enumerate(chain):
            acc = accs.get(step["candidate_id"])
            sug = f" — {step['suggestion']}" if step["suggestion"] else ""
            lines.append(
                f"{depth}. `{step['candidate_id']}` ({step['strategy']}/{step['agent']}, "
                f"val {_fmt_acc(acc)}){sug}"
            )
    else:
        lines.append("A root candidate: it has no parent in the run (not derived by modification).")
    lines += [
        "",
        "## Provenance",
        "",
        f"- run: `{src.run_id}` ({src.run_dir})",
        f"- code version: {man.get('code_version', 'unknown')}; config hash: {man.get('config_hash', 'unknown')}",
    ]
    if res.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in res.notes]
    return "\n".join(lines) + "\n"
