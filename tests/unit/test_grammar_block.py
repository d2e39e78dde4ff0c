"""The block grammar (nas.graph.grammar_block) against the blocks the validator accepts and
the answers a small model wrote that it must not let through."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from nas.graph import parse_blocks
from nas.graph.block import BlockGraph
from nas.graph.grammar_block import BLOCK_FORM, block_constraint, block_grammar, op_spellings
from nas.graph.ops import op_specs
from nas.graph.seeds import SEED_BLOCKS, seed_blocks
from nas.graph.text import ParseError, serialize
from nas.graph.validate import analyze
from tests.conftest import shared_path

GRAMMAR = block_grammar()

BASIC = "##B##\n0:input\n1:output\n2:Conv2d(out_channels=C,kernel_size=3)\n3:BN\n4:Add\n" \
    "0->2\n2->3\n3->4\n0->4\n4->1\n"  # fmt: skip


def _valid(g: BlockGraph) -> bool:
    return not analyze(g).errors


def _fixture_blocks() -> Iterator[tuple[str, BlockGraph]]:
    root = shared_path("fixtures", "nader")
    for f in sorted(root.rglob("*.txt")):
        try:
            blocks = parse_blocks(f.read_text().replace("###", "##"))
        except ParseError:
            continue
        for b in blocks.values():
            yield f"{f.relative_to(root)}/{b.name}", b
    log = json.loads((root / "experiences" / "develop_fail2success_240709_log.json").read_text())
    for part, models in log.items():
        for model, entries in models.items():
            for i, e in enumerate(entries):
                try:
                    got = parse_blocks(e["success_block"][f"{part}_block"].replace("###", "##"))
                except ParseError:
                    continue
                for b in got.values():
                    yield f"f2s/{part}/{model}/{i}/{b.name}", b


@pytest.mark.parametrize("name", sorted(SEED_BLOCKS))
def test_every_seed_block_is_a_sentence(name: str) -> None:
    for b in seed_blocks(name).values():
        assert _valid(b)
        assert GRAMMAR.accepts(serialize(b)), b.name
        assert block_constraint(b.name).grammar.accepts(serialize(b))  # type: ignore[union-attr]


def test_every_valid_nader_fixture_block_is_a_sentence() -> None:
    seen = rejected = 0
    for where, b in _fixture_blocks():
        if not _valid(b):
            continue
        seen += 1
        if not GRAMMAR.accepts(serialize(b)):
            rejected += 1
            print("rejected:", where)
    assert seen >= 100  # the blocks/, blocks-cifar/, darts/, NB201 files and the f2s log
    assert rejected == 0


def test_a_whole_block_file_in_one_fence_with_fixed_names() -> None:
    blocks = seed_blocks("resnet_basic")
    names = list(blocks)
    c = block_constraint(*names[1:])
    text = serialize([blocks[n] for n in names[1:]])
    assert c.name == BLOCK_FORM and c.grammar is not None
    assert c.grammar.accepts(text) and c.grammar.accepts(f"```\n{text}```\n")
    assert not c.grammar.accepts(serialize([blocks[n] for n in reversed(names[1:])]))


MALFORMED = {
    "comment": BASIC.replace("3:BN\n", "3:BN  # normalise\n"),
    "comment line": BASIC.replace("3:BN\n", "# the norm\n3:BN\n"),
    "unknown op": BASIC.replace("3:BN", "3:SwishNorm"),
    "unknown argument": BASIC.replace("kernel_size=3", "kernel_size=3,mode=fast"),
    "prose before": "Here is the modified block:\n" + BASIC,
    "prose after": BASIC + "This adds a residual.\n",
    "second block": BASIC + BASIC.replace("##B##", "##SE##"),
    "missing output": BASIC.replace("1:output\n", ""),
    "two outputs": BASIC.replace("1:output\n", "1:output\n9:output\n"),
    "no edges": BASIC.split("0->2")[0],
    "H in a conv argument": BASIC.replace("kernel_size=3", "kernel_size=H"),
    "missing last newline": BASIC[:-1],
    "edges before nodes": "##B##\n0->2\n2->1\n0:input\n1:output\n2:ReLU\n",
    "spaces": BASIC.replace("0->2", "0 -> 2"),
    "required argument missing": BASIC.replace("Conv2d(out_channels=C,kernel_size=3)", "Conv2d"),
    "huge index": BASIC.replace("3:BN", "31415:BN"),
    "empty": "",
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_answers_are_not_sentences(kind: str) -> None:
    assert GRAMMAR.accepts(BASIC)
    assert not GRAMMAR.accepts(MALFORMED[kind]), kind


def test_a_named_block_takes_only_its_name() -> None:
    c = block_constraint("B").grammar
    assert c is not None
    assert c.accepts(BASIC) and not c.accepts(BASIC.replace("##B##", "##B2##"))


def test_value_forms_come_from_the_table() -> None:
    ok = [
        "2:Conv2d(out_channels=C*2,kernel_size=3,stride=2,groups=C/4,bias=False)",
        "2:Conv2d(out_channels=(C+1)//2,k=5)",
        "2:DropPath(prob=0.1)",
        "2:Dropout(p=1e-3)",
        "2:mean(dim=(2,3),keepdim=True)",
        "2:reshape(B,C/4,4,H,W)",
        "2:permute(0,2,3,1)",
        "2:concat(dim=1)",
        "2:batchnorm2d",
        "2:AdaptiveAvgPool2d(output_size=1)",
    ]
    bad = ["2:Conv2d(out_channels=C**2,kernel_size=3)", "2:Dropout(p=half)",
           "2:mean(dim=(2,3),keepdim=maybe)", "2:reshape(B,C/4,4,H,W,1,1,1)"]  # fmt: skip
    for line in ok:
        assert GRAMMAR.accepts(BASIC.replace("3:BN", line.replace("2:", "3:"))), line
    for line in bad:
        assert not GRAMMAR.accepts(BASIC.replace("3:BN", line.replace("2:", "3:"))), line


def test_every_op_and_alias_is_named_in_the_gbnf() -> None:
    text = GRAMMAR.gbnf()
    for spec in op_specs():
        for s in op_spellings(spec):
            assert f'"{s}"' in text, s
    assert "{0,0}" not in text  # a repetition llama.cpp need not read
