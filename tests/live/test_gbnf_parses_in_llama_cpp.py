"""Every grammar archlab generates parses in llama.cpp's own GBNF parser.

The live tests that send a grammar to the server check one answer each; this one checks
every answer form the code builds (the NADER block and think-then-answer forms, the edit
form of a seed block, LLMatic's NB201 cell, LAPT's candidate list, the Proposer ranking,
the Reflector tips, the Reader verdict) against the parser the server itself uses:
``llama_sampler_init_grammar`` with the served model's vocabulary, which returns NULL for a
grammar it cannot read. It runs in the model server's own Python (``ARCHLAB_LLM_DIR``'s
venv, which ``scripts/llm-up.sh`` installs), loads only the vocabulary (no weights, about a
second) and makes no request, so it does not queue behind the server's work.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from nas.agents.reflector import CATEGORIES
from nas.grammar import Constraint
from nas.graph.edits import (
    EDIT_FORMS,
    change_first_constraint,
    edits_constraint,
    headed_constraint,
    kind_constraint,
)
from nas.graph.grammar_block import block_constraint, with_plan
from nas.graph.seeds import seed_blocks
from nas.prompts.parsers import ranking_constraint, tips_constraint, yes_no_constraint
from nas.prompts.strategy_parsers import candidates_constraint, network_constraint
from nas.spaces import NB201Space

pytestmark = [pytest.mark.llm_live, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
LLM_DIR = Path(os.environ.get("ARCHLAB_LLM_DIR", str(REPO / ".work" / "llm")))
GGUF = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"

# Reads grammar files named on the command line; prints one "OK name" / "FAIL name" a line.
CHECK = """
import sys
import llama_cpp
m = llama_cpp.Llama(model_path=sys.argv[1], vocab_only=True, verbose=False)
vocab = llama_cpp.llama_model_get_vocab(m.model)
for path in sys.argv[2:]:
    text = open(path, encoding="utf-8").read().encode()
    ok = bool(llama_cpp.llama_sampler_init_grammar(vocab, text, b"root"))
    print(("OK " if ok else "FAIL ") + path)
"""


def _constraints() -> list[Constraint]:
    space = NB201Space()
    block = block_constraint("ResNetBasic")
    return [
        block,
        with_plan(block),
        edits_constraint(seed_blocks("resnet_basic")["ResNetBasic"]),
        edits_constraint(seed_blocks("resnet_basic")["ResNetBasic"], EDIT_FORMS["edits@2"]),
        change_first_constraint(seed_blocks("inception")["Inception"]),
        headed_constraint(seed_blocks("inception")["Inception"]),
        headed_constraint(seed_blocks("inception")["Inception"], EDIT_FORMS["edits@4"], "swap"),
        kind_constraint(),
        network_constraint(space),
        candidates_constraint(space, 2),
        ranking_constraint(5, 3),
        tips_constraint(CATEGORIES),
        yes_no_constraint(),
    ]


def _parse(paths: list[Path]) -> dict[str, bool]:
    python, model = LLM_DIR / "venv" / "bin" / "python", LLM_DIR / "model" / GGUF
    if not python.is_file() or not model.is_file():
        pytest.skip(f"the model server is not installed in {LLM_DIR}: bash scripts/llm-up.sh")
    out = subprocess.run(
        [str(python), "-c", CHECK, str(model), *map(str, paths)],
        capture_output=True, text=True, timeout=240, check=True,
    )  # fmt: skip
    verdicts = dict(line.split(" ", 1)[::-1] for line in out.stdout.splitlines() if " " in line)
    return {p: v == "OK" for p, v in verdicts.items()}


def test_a_broken_grammar_is_refused_by_the_same_check(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.gbnf", tmp_path / "bad.gbnf"
    good.write_text('root ::= "yes" | "no"\n', encoding="utf-8")
    bad.write_text("root ::= undefined-rule\n", encoding="utf-8")
    assert _parse([good, bad]) == {str(good): True, str(bad): False}


def test_every_generated_grammar_parses_in_llama_cpp(tmp_path: Path) -> None:
    paths = []
    for c in _constraints():
        assert c.grammar is not None, c.name
        path = tmp_path / (c.name.replace("@", "_") + f"_{len(paths)}.gbnf")
        path.write_text(c.grammar.gbnf(), encoding="utf-8")
        paths.append(path)
    verdicts = _parse(paths)
    assert verdicts == {str(p): True for p in paths}
