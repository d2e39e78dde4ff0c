"""``archlab graph``: validate, hash, compile, convert, draw and fit block files.

Exit codes: 0 success (``validate``: valid), 1 invalid graph or no fitting width,
2 usage or unreadable input. ``--json`` prints machine-readable output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    return Path(path).read_text(encoding="utf-8")


def _emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    print(json.dumps(payload, indent=2) if args.json else text)


def _load(args: argparse.Namespace) -> tuple[Any, list[dict[str, Any]]]:
    """Parsed blocks, or the parse error as one structured error."""
    from nas.graph import ParseError, parse_blocks

    try:
        return parse_blocks(_read(args.file), source=args.file), []
    except ParseError as e:
        return None, [
            {
                "block": e.block,
                "node": None,
                "rule": "parse",
                "message": f"{e.source}: line {e.line}, col {e.col}: {e.reason}",
                "file": e.source,
                "hint": e.hint,
                "line": e.line,
                "col": e.col,
            }
        ]


def _spec(args: argparse.Namespace, blocks: Any) -> Any:
    from nas.graph import spec_from_blocks

    shape = tuple(int(x) for x in args.input.lower().split("x"))
    if len(shape) != 3:
        raise SystemExit(f"archlab graph: --input {args.input!r} must look like 3x32x32")
    kw: dict[str, Any] = {
        "kind": args.macro,
        "num_classes": args.classes,
        "input_shape": shape,
    }
    if args.width:
        kw["width"] = args.width
    elif args.macro == "stages" and not args.widths:
        kw["width"] = 64
    if args.cells is not None:
        kw["cells"] = args.cells
    if args.widths:
        kw["widths"] = tuple(int(x) for x in args.widths.split(","))
        kw.setdefault("width", kw["widths"][0])
    if args.depths:
        kw["depths"] = tuple(int(x) for x in args.depths.split(","))
    return spec_from_blocks(blocks, **kw)


def _validate(args: argparse.Namespace) -> int:
    from nas.graph.skeleton_check import check_file_blocks

    blocks, errors = _load(args)
    if blocks is not None:
        errors += [
            e.to_dict()
            for e in check_file_blocks(blocks, skeleton=args.skeleton, channels=args.channels)
        ]
    valid = not errors
    text = (
        "valid"
        if valid
        else "\n".join(
            f"{e['block'] or args.file}"
            f"{' node ' + str(e['node']) if e['node'] is not None else ''}: "
            f"[{e['rule']}] {e['message']}\n  fix: {e['hint']}"
            for e in errors
        )
    )
    _emit(args, {"valid": valid, "errors": errors}, text)
    return 0 if valid else 1


def _hash(args: argparse.Namespace) -> int:
    from nas.graph import canonical_hash

    blocks, errors = _load(args)
    if blocks is None:
        print(errors[0]["message"], file=sys.stderr)
        return 2
    hashes = {name: canonical_hash(g) for name, g in blocks.items()}
    _emit(args, hashes, "\n".join(f"{h}  {name}" for name, h in hashes.items()))
    return 0


def _compile(args: argparse.Namespace) -> int:
    from nas.graph import GraphInvalid, cost, export_source

    blocks, errors = _load(args)
    if blocks is None:
        _emit(args, {"errors": errors}, errors[0]["message"])
        return 1
    spec = _spec(args, blocks)
    try:
        c = cost(spec)
        if args.export:
            Path(args.export).write_text(export_source(spec), encoding="utf-8")
    except GraphInvalid as e:
        _emit(args, {"errors": [x.to_dict() for x in e.errors]}, str(e))
        return 1
    if args.forward:
        import torch

        from nas.graph import build_model

        model = build_model(spec).eval()
        with torch.no_grad():
            out = model(torch.zeros(1, *spec.input_shape))
        assert tuple(out.shape) == tuple(c.output_shape)
    d = c.to_dict()
    _emit(
        args,
        d,
        f"params {c.params:,}  macs {c.macs:,}  flops {c.flops:,}  output {tuple(c.output_shape)}",
    )
    return 0


def _from_nb201(args: argparse.Namespace) -> int:
    from nas.graph import nb201_to_graph, serialize

    try:
        g = nb201_to_graph(args.arch)
    except ValueError as e:
        print(f"archlab graph from-nb201: {e}", file=sys.stderr)
        return 2
    text = serialize(g)
    _emit(args, {"block": text}, text.rstrip("\n"))
    return 0


def _draw(args: argparse.Namespace) -> int:
    from nas.graph.draw import draw

    blocks, errors = _load(args)
    if blocks is None:
        print(errors[0]["message"], file=sys.stderr)
        return 2
    name = args.block or next(iter(blocks))
    if name not in blocks:
        print(
            f"archlab graph draw: no block {name!r}; blocks: {', '.join(blocks)}", file=sys.stderr
        )
        return 2
    out = draw(blocks[name], args.output)
    _emit(args, {"block": name, "path": str(out)}, str(out))
    return 0


def _fit(args: argparse.Namespace) -> int:
    from nas.graph import GraphInvalid, fit_width

    blocks, errors = _load(args)
    if blocks is None:
        _emit(args, {"errors": errors}, errors[0]["message"])
        return 1
    spec = _spec(args, blocks)
    try:
        w, c = fit_width(
            spec,
            args.max_params,
            args.max_flops,
            flops_kind=args.flops_kind,
            multiple_of=args.multiple_of,
        )
    except GraphInvalid as e:
        _emit(args, {"errors": [x.to_dict() for x in e.errors]}, str(e))
        return 1
    except ValueError as e:
        _emit(args, {"error": str(e)}, str(e))
        return 1
    widths = list(spec.with_width(w).stage_widths())
    _emit(
        args,
        {"width": w, "widths": widths, **c.to_dict()},
        f"width {w} (stages {widths}): params {c.params:,}  macs {c.macs:,}  flops {c.flops:,}",
    )
    return 0


def _macro_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--macro", choices=("nb201", "stages"), default="nb201", help="skeleton")
    p.add_argument("--width", type=int, default=0, help="first-stage width (nb201 default 16)")
    p.add_argument("--cells", type=int, default=None, help="nb201: blocks per stage (5)")
    p.add_argument("--widths", default="", help="stages: comma-separated widths, e.g. 64,128,256")
    p.add_argument("--depths", default="", help="stages: comma-separated depths, e.g. 2,2,2,2")
    p.add_argument("--classes", type=int, default=10, help="number of classes")
    p.add_argument("--input", default="3x32x32", help="image shape CxHxW")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "graph",
        help="validate, hash, compile, draw and fit architecture block files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gsub = p.add_subparsers(dest="graph_command", metavar="SUBCOMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        q: argparse.ArgumentParser = gsub.add_parser(name, help=help_, description=help_)
        q.add_argument("--json", action="store_true", help="machine-readable output")
        return q

    q = add("validate", "check every block of FILE; exit 0 valid, 1 invalid")
    q.add_argument("file", help="block file ('-' for stdin)")
    q.add_argument("--channels", type=int, default=64, help="width to check lone blocks at")
    q.add_argument(
        "--skeleton",
        choices=("nb201", "stages", "imagenet"),
        default="",
        help="also check the blocks inside this skeleton: its stem/downsample spatial "
        "contract and the base block at every width and resolution it runs",
    )
    q.set_defaults(func=_validate)

    q = add("hash", "canonical (isomorphism-invariant) hash of every block of FILE")
    q.add_argument("file")
    q.set_defaults(func=_hash)

    q = add("compile", "params/MACs/FLOPs of FILE's blocks in a macro skeleton")
    q.add_argument("file")
    _macro_args(q)
    q.add_argument("--export", default="", help="also write PyTorch source to this path")
    q.add_argument("--forward", action="store_true", help="build with torch and run a forward pass")
    q.set_defaults(func=_compile)

    q = add("from-nb201", "block text of a NAS-Bench-201 arch string")
    q.add_argument("arch", help="e.g. '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|'")
    q.set_defaults(func=_from_nb201)

    q = add("draw", "draw a block of FILE as .svg or .png")
    q.add_argument("file")
    q.add_argument("-o", "--output", required=True, help="X.svg or X.png")
    q.add_argument("--block", default="", help="block name (default: the first)")
    q.set_defaults(func=_draw)

    q = add("fit", "largest width within a params/FLOPs budget")
    q.add_argument("file")
    _macro_args(q)
    q.add_argument("--max-params", type=float, default=None, help="e.g. 1.5e6")
    q.add_argument("--max-flops", type=float, default=None, help="e.g. 2e8 (MACs by default)")
    q.add_argument("--flops-kind", choices=("macs", "flops"), default="macs")
    q.add_argument("--multiple-of", type=int, default=1, help="width granularity")
    q.set_defaults(func=_fit)

    def _help(_: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_help)
