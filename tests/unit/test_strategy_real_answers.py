"""The LAPT/LLMatic answer parsers on answers a real model gave (recorded outputs).

Recorded from Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M, llama-cpp-python server, n_ctx 8192,
1 thread, chatml) through ``bench/bench_llm_strategies.py`` on NAS-Bench-201; the full
exchanges are in ``bench/results/real_llm_cassette.json``. LAPT's learner at temperature 0,
LLMatic's operators at the prompt individual's temperature.
"""

from __future__ import annotations

import pytest

from nas.prompts.parsers import PromptParseError, parse_yes_no
from nas.prompts.strategy_parsers import (
    NetworkParseError,
    parse_network_answer,
    parse_principles_answer,
)
from nas.spaces import NB201Space
from nas.spaces.nb201 import from_ops
from nas.strategies.operators import LLMOperators

SPACE = NB201Space()
OPS = SPACE.positions[0].choices  # none, skip_connect, nor_conv_1x1, ...

# lapt_principles@2, ImageNet16-120 top-50 (numbered parts, fenced JSON on its own line)
LAPT_LEARN = 'PATTERNS:\n1. The architecture uses a combination of ReLUConvBN layers with different kernel sizes and strides.\n2. The average pooling layer is used to reduce the resolution of the input data.\n3. The skip connections are used to connect the output of one layer directly to the input of the next layer.\n\nPRINCIPLES:\n1. Information flows through the architecture by passing information from one layer to the next, with some layers being skipped over.\n2. The average pooling layer is used to reduce the resolution of the input data, which can help in reducing the computational complexity and improving the efficiency of the network.\n3. The ReLUConvBN layers are used to perform convolutional operations on the input data, which can help in learning features from the input data.\n\nCANDIDATES:\n```json\n{\n  "layer0": [2],\n  "layer1": [2, 4],\n  "layer2": [3, 4],\n  "layer3": [3, 4],\n  "layer4": [3, 4],\n  "layer5": [3, 4]\n}\n```'

# lapt_update@2 after 10 CIFAR-10 evaluations (one-paragraph parts, fence after the label)
LAPT_UPDATE = 'PATTERNS: The architecture uses a combination of ReLUConvBN layers with different kernel sizes and strides. The average pooling layer is used to reduce the resolution of the input data. The skip connections are used to connect the output of one layer directly to the input of the next layer.\n\nPRINCIPLES: Information flows through the architecture by passing information from one layer to the next, with some layers being skipped over. The average pooling layer is used to reduce the resolution of the input data, which can help in reducing the computational complexity and improving the efficiency of the network. The ReLUConvBN layers are used to perform convolutional operations on the input data, which can help in learning features from the input data.\n\nCANDIDATES: ```json\n{\n  "layer0": [2],\n  "layer1": [3, 4],\n  "layer2": [3, 4],\n  "layer3": [3, 4],\n  "layer4": [3, 4],\n  "layer5": [3, 4]\n}\n```'


def _ids(cands: tuple[frozenset[str], ...]) -> list[list[int]]:
    return [sorted(OPS.index(c) for c in a) for a in cands]


def test_real_lapt_learn_answer_parses_into_layer_ids_and_numbered_statements() -> None:
    a = parse_principles_answer(LAPT_LEARN, SPACE)
    assert _ids(a.candidates) == [[2], [2, 4], [3, 4], [3, 4], [3, 4], [3, 4]]
    assert len(a.patterns) == 3 and a.patterns[0].startswith("The architecture uses")
    assert len(a.principles) == 3 and a.principles[2].startswith("The ReLUConvBN layers")


def test_real_lapt_update_answer_with_inline_parts_parses() -> None:
    a = parse_principles_answer(LAPT_UPDATE, SPACE)
    assert _ids(a.candidates) == [[2], [3, 4], [3, 4], [3, 4], [3, 4], [3, 4]]
    assert len(a.patterns) == 3 and len(a.principles) == 3
    assert not any("```" in s or "{" in s for s in a.principles)


# llmatic_mutate@1 / llmatic_crossover@1 answers (CIFAR-10, temperatures 0.55-0.7)
CROSSOVER_OK = (
    "edge 1<-0: skip_connect\nedge 2<-0: avg_pool_3x3\nedge 2<-1: nor_conv_1x1\n"
    "edge 3<-0: skip_connect\nedge 3<-1: nor_conv_1x1\nedge 3<-2: none"
)
# "Delete a layer to improve the above network." -> the model left lines out
DELETE_PARTIAL = (
    "edge 1<-0: none\nedge 2<-0: skip_connect\nedge 2<-1: avg_pool_3x3\n"
    "edge 3<-0: nor_conv_3x3\nedge 3<-2: nor_conv_1x1"
)
DELETE_SHORT = "edge 1<-0: none\nedge 2<-0: avg_pool_3x3\nedge 3<-0: skip_connect"
# "Add a residual connection to improve the above network." -> the parent (six unchanged
# lines) plus a position the cell does not have
RESIDUAL_PARENT = (
    "edge 1<-0: skip_connect\nedge 2<-0: nor_conv_3x3\nedge 2<-1: nor_conv_3x3\n"
    "edge 3<-0: skip_connect\nedge 3<-1: nor_conv_1x1\nedge 3<-2: avg_pool_3x3"
)
RESIDUAL_EXTRA = RESIDUAL_PARENT + "\nedge 4<-0: skip_connect"
RESIDUAL_UNKNOWN_OP = RESIDUAL_PARENT + "\nedge 4<-0: res_connect"


def test_real_llmatic_answer_parses() -> None:
    ops = ["skip_connect", "avg_pool_3x3", "nor_conv_1x1", "skip_connect", "nor_conv_1x1", "none"]
    assert parse_network_answer(CROSSOVER_OK, SPACE) == from_ops(ops)


@pytest.mark.parametrize(
    "answer,reason,message",
    [
        (DELETE_PARTIAL, "missing", "lacks lines for edge 3<-1;"),
        (DELETE_SHORT, "missing", "lacks lines for edge 2<-1, edge 3<-1, edge 3<-2;"),
        (RESIDUAL_EXTRA, "unknown", "position 'edge 4<-0' is not in the space"),
    ],
)
def test_real_llmatic_failures_are_precise_records(answer: str, reason: str, message: str) -> None:
    with pytest.raises(NetworkParseError, match=message) as e:
        parse_network_answer(answer, SPACE)
    assert e.value.reason == reason


def test_an_extra_line_that_is_no_network_line_is_ignored() -> None:
    # "res_connect" is no operation: the line is chatter, the six lines are the network
    assert parse_network_answer(RESIDUAL_UNKNOWN_OP, SPACE) == parse_network_answer(
        RESIDUAL_PARENT, SPACE
    )


def test_llmatic_v2_prompts_state_the_rules_the_real_model_broke() -> None:
    ops = LLMOperators(lambda p, t: "")
    parent = parse_network_answer(RESIDUAL_PARENT, SPACE)
    m = ops.mutate_prompt(SPACE, parent, 5)  # "Delete a layer ..."
    c = ops.crossover_prompt(SPACE, parent, parent)
    assert m.ref == "llmatic_mutate@2" and c.ref == "llmatic_crossover@2"
    for p in (m, c):
        assert "write exactly these 6 positions, each once, in this order: edge 1<-0," in p
        assert "To delete a layer, keep its line and set it to none." in p
        assert "A residual connection is skip_connect on an existing position." in p
    assert "Instruction: Delete a layer" in m


def test_llmatic_gives_an_llm_that_repeats_its_parent_four_calls_per_proposal() -> None:
    # the real model often answered its parent unchanged; every such child was already
    # proposed, and LLMatic asked again up to max_tries (40) times per proposal
    import numpy as np

    from nas.records import TrialRecord, TrialState
    from nas.strategies.llmatic import LLMatic

    calls: list[str] = []

    def parrot(prompt: str, temperature: float) -> str:
        calls.append(str(prompt))
        head = "Network A:\n" if "Network A:\n" in prompt else "Network:\n"
        return str(prompt).split(head)[-1].split("\n\n")[0]  # the parent, or network A

    s = LLMatic(operators=LLMOperators(parrot), rng=np.random.default_rng(0), init_size=5)
    for i in range(8):
        [c] = s.ask(1)
        s.tell([TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": 0.5 + 0.01 * i})])
    assert 0 < len(calls) <= 4 * 3  # 3 proposals after the 5 random cells
    assert sum("were already proposed; rule-based operator" in f for f in s.operator_failures) == 3
    agents = [c.origin.agent for c, _ in s.history[5:]]
    assert all(a.startswith("rule-based-operators:") and a.endswith("(fallback)") for a in agents)


# reader_filter@1 answers of the same model (tests/fixtures/llm/reader_real.json): the verdict
# first, on a line of its own, then the reason; the ANSWER line form on other papers
@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("Yes\nThis paper is relevant because it introduces a new operation (identity shortcut "
         "connections) that can inspire changes to the building block of an image-classification "
         "CNN.", True),
        ("ANSWER: yes\nThis paper is relevant because it introduces a Ghost module.", True),
        ("It is about finance.\n**No.**", False),
    ],
)  # fmt: skip
def test_real_reader_filter_answers_parse(answer: str, verdict: bool) -> None:
    assert parse_yes_no(answer) is verdict


def test_a_yes_no_answer_that_contradicts_itself_is_no_answer() -> None:
    with pytest.raises(PromptParseError, match="no 'ANSWER: yes|no' line"):
        parse_yes_no("Yes\nThe paper is about birds, so the answer is:\nNo")
    with pytest.raises(PromptParseError):
        parse_yes_no("Yes, partly: it studies networks but proposes no block.")
