"""One contract suite run against every LLM mode (pyribs/Optuna style).

* ``live``: the real ``openai`` client against the scripted local OpenAI-compatible server
  (:mod:`tests.support.scripted_openai_server`);
* ``record``: the same, and every final response (or final error) goes to a cassette;
* ``replay``: answers from a cassette recorded once per module by the same conversation,
  with no server (``base_url`` points at a closed port: any network use would fail).

Each mode must give the same parsed answers, the same ``llm_calls`` rows (columns of the
store schema; agent, prompt id, candidate id, status, tokens, attempt — one row per HTTP
request, a retried 500 included: replay replays the recorded attempts), send/key temperature and
seed, and stop on the budget after the same call. A request that is not in the cassette
fails loudly in replay (:class:`CassetteMiss`, a ``cassette_miss`` row) and reaches the
endpoint in the other modes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nas.llm import BudgetExceeded, Cassette, CassetteMiss, LLMBudget, LLMClient, LLMError
from nas.prompts import (
    PromptParseError,
    load_prompt,
    parse_block_answer,
    parse_list,
    parse_ranking,
    parse_tips,
    parse_yes_no,
)
from tests.support.scripted_openai_server import Reply, ScriptedOpenAIServer, count_tokens

MODES = ("live", "record", "replay")
MODEL = "gpt-4o-mini"
TEMPERATURE, SEED = 0.2, 7
CLOSED_PORT = "http://127.0.0.1:9/v1"  # discard port: nothing listens

BLOCK = """##ResNetBasicBlock##
0:input
1:output
2:Conv2d(out_channels=C,kernel_size=3,stride=1)
3:BN
4:ReLU
5:Add
0->2
2->3
3->4
4->5
0->5
5->1
"""


@dataclass(frozen=True)
class Step:
    """One exchange: the prompt, what the endpoint answers, how it is parsed."""

    agent: str
    prompt: str
    slots: dict[str, Any]
    replies: tuple[Reply, ...]  # several = retried by the client (429/5xx) before the last
    parse: Callable[[str], Any]
    expected: Any  # parsed answer, or the LLMError kind / PromptParseError reason
    candidate_id: str = ""
    temperature: float | None = None  # per-call override
    version: int | None = 1  # the client is tested, not the prompts: pinned texts


def _messages(step: Step) -> list[dict[str, str]]:
    return load_prompt(step.prompt, step.version).render(**step.slots)


STEPS: tuple[Step, ...] = (
    Step(
        "reader", "reader_filter",
        {"title": "Squeeze-and-Excitation Networks",
         "abstract": "We propose the SE block, which recalibrates channel responses."},
        (Reply.text("It proposes a new architectural unit for CNN blocks.\nANSWER: yes"),),
        parse_yes_no, True,
    ),
    Step(
        "reader", "reader_extract",
        {"title": "Squeeze-and-Excitation Networks",
         "method": "Global average pooling squeezes each channel; two FC layers excite."},
        (Reply.text("1. Squeeze spatial information with global average pooling.\n"
                    "2. Rescale channels with a sigmoid gate from a small bottleneck MLP."),),
        parse_list,
        ["Squeeze spatial information with global average pooling.",
         "Rescale channels with a sigmoid gate from a small bottleneck MLP."],
    ),
    Step(
        "proposer", "proposer_rank",
        {"block": BLOCK.strip(), "candidates": "1. SE attention\n2. dilation\n3. GELU",
         "experiences": "(none yet)", "k": 3},
        (Reply.rate_limited("0.01"),
         Reply.text("Channel attention suits a residual block best.\nRANKING: 1, 3, 2")),
        lambda t: parse_ranking(t, 3), [0, 2, 1], temperature=0.0,
    ),
    Step(
        "modifier", "modifier",
        {"block": BLOCK, "inspiration": "add a squeeze-and-excitation gate",
         "experiences": "- keep the identity path", "ops": "Conv2d, BN, ReLU, Add"},
        (Reply.text("Here is the block:\n```\n" + BLOCK + "```\n"),),
        lambda t: parse_block_answer(t).names, ["ResNetBasicBlock"], candidate_id="cand-1",
    ),
    Step(
        "reflector", "reflector_invalid",
        {"block": BLOCK, "errors": "- node 5: [broadcast] Add shapes differ",
         "fixed": "none", "categories": "shape mismatch, syntax"},
        (Reply.text("TIP [shape mismatch]: Give both Add inputs the same channels."),),
        parse_tips, [("shape mismatch", "Give both Add inputs the same channels.")],
        candidate_id="cand-1",
    ),
    Step(
        "modifier", "modifier",
        {"block": BLOCK, "inspiration": "use a dilated branch",
         "experiences": "(none)", "ops": "Conv2d, BN, ReLU, Add"},
        (Reply.empty(),), lambda t: parse_block_answer(t).names, "empty",
        candidate_id="cand-2",
    ),
    Step(
        "proposer", "proposer_rank",
        {"block": BLOCK.strip(), "candidates": "1. a\n2. b", "experiences": "-", "k": 2},
        (Reply.server_error(500), Reply.server_error(500)),  # retried once, then fails
        lambda t: parse_ranking(t, 2), "server_error",
    ),
)  # fmt: skip

ROW_KEYS = ("agent", "prompt_id", "candidate_id", "status", "tokens_in", "tokens_out", "model",
            "attempt", "retried")  # fmt: skip


def _script(steps: tuple[Step, ...] = STEPS) -> list[Reply]:
    return [r for s in steps for r in s.replies]


def _client(mode: str, base_url: str, cassette: Path | None, store: Any, run_id: str,
            budget: LLMBudget | None = None) -> LLMClient:  # fmt: skip
    return LLMClient(
        MODEL, base_url=base_url, api_key="sk-test", mode=mode, cassette=cassette,
        temperature=TEMPERATURE, seed=SEED, timeout_s=5.0, max_retries=1,
        sink=LLMClient.store_sink(store, run_id), budget=budget,
    )  # fmt: skip


def _run_step(llm: LLMClient, step: Step) -> Any:
    """The parsed answer, or the failure kind (LLMError.kind / PromptParseError.reason)."""
    t = load_prompt(step.prompt, step.version)
    try:
        reply = llm.chat(_messages(step), agent=step.agent, prompt_id=t.ref,
                         candidate_id=step.candidate_id, temperature=step.temperature)  # fmt: skip
    except LLMError as e:
        return e.kind
    try:
        return step.parse(reply.text)
    except PromptParseError as e:
        return e.reason


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cassette of the conversation, recorded once against the scripted server."""
    from store.result_store import LocalResultStore

    d = tmp_path_factory.mktemp("cassette")
    path = d / "contract.json"
    store = LocalResultStore(d / "tables")
    with ScriptedOpenAIServer(_script()) as srv:
        llm = _client("record", srv.base_url, path, store, "rec")
        for step in STEPS:
            _run_step(llm, step)
    return path


@dataclass
class Env:
    mode: str
    llm_factory: Callable[..., LLMClient]
    server: ScriptedOpenAIServer | None
    cassette: Path | None
    store: Any


@contextmanager
def _env(mode: str, root: Path, recorded: Path) -> Iterator[Env]:
    from store.result_store import LocalResultStore

    store = LocalResultStore(root / "tables")
    if mode == "replay":
        yield Env(mode, lambda **kw: _client(mode, CLOSED_PORT, recorded, store, "r1", **kw),
                  None, recorded, store)  # fmt: skip
        return
    cas_path = root / "cassette.json" if mode == "record" else None
    with ScriptedOpenAIServer(_script()) as srv:
        url = srv.base_url
        yield Env(mode, lambda **kw: _client(mode, url, cas_path, store, "r1", **kw), srv,
                  cas_path, store)  # fmt: skip


@pytest.fixture(params=MODES)
def env(request: pytest.FixtureRequest, tmp_path: Path, recorded: Path) -> Iterator[Env]:
    with _env(request.param, tmp_path, recorded) as e:
        yield e


@dataclass
class Conversation:
    """The whole conversation of STEPS run once in one mode (shared by several checks)."""

    env: Env
    answers: list[Any]
    rows: list[dict[str, Any]]
    columns: list[str]
    usage: Any
    requests: list[dict[str, Any]]
    billed: tuple[int, int]


@pytest.fixture(scope="module", params=MODES)
def conv(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, recorded: Path
) -> Iterator[Conversation]:
    root = tmp_path_factory.mktemp(f"conv-{request.param}")
    with _env(request.param, root, recorded) as e:
        llm = e.llm_factory()
        answers = [_run_step(llm, s) for s in STEPS]
        srv = e.server
        yield Conversation(
            e, answers, _rows(e.store), e.store.read("llm_calls", "r1").column_names, llm.usage,
            list(srv.requests) if srv else [],
            (srv.prompt_tokens, srv.completion_tokens) if srv else (0, 0),
        )  # fmt: skip


def _rows(store: Any) -> list[dict[str, Any]]:
    rows = store.read("llm_calls", "r1").to_pylist()
    return sorted(rows, key=lambda r: r["created_at"])


def _expected_tokens(step: Step) -> tuple[int, int]:
    """What the scripted server reports for the final reply of ``step``."""
    prompt = sum(count_tokens(m["content"]) for m in _messages(step))
    last = step.replies[-1]
    if last.status != 200:
        return 0, 0
    return prompt, count_tokens(last.content or "")


def test_same_parsed_answers(conv: Conversation) -> None:
    assert conv.answers == [s.expected for s in STEPS]


def test_same_accounting_rows(conv: Conversation) -> None:
    from store.schemas import schema_for

    rows = conv.rows
    assert set(schema_for("llm_calls").names) <= set(conv.columns)
    want = []
    for s in STEPS:
        tin, tout = _expected_tokens(s)
        status = "server_error" if s.expected == "server_error" else (
            "empty" if s.expected == "empty" else "ok")  # fmt: skip
        base = {"agent": s.agent, "prompt_id": f"{s.prompt}@1",
                "candidate_id": s.candidate_id or None, "model": MODEL}  # fmt: skip
        for i, r in enumerate(s.replies[:-1], start=1):  # retried attempts: a row each
            kind = "server_error" if r.status >= 500 else "rate_limit"
            want.append({**base, "status": kind, "tokens_in": 0, "tokens_out": 0,
                         "attempt": i, "retried": True})  # fmt: skip
        want.append({**base, "status": status, "tokens_in": tin, "tokens_out": tout,
                     "attempt": len(s.replies), "retried": False})  # fmt: skip
    assert [{k: r[k] for k in ROW_KEYS} for r in rows] == want
    assert all(r["cache_hit"] is (conv.env.mode == "replay") for r in rows)
    assert all(r["error"] for r in rows if r["status"] != "ok")
    assert all(r["latency_s"] >= 0 and r["cost_usd"] >= 0 for r in rows)
    ok = [r for r in rows if r["status"] in ("ok", "empty")]
    assert conv.usage.tokens_in == sum(r["tokens_in"] for r in ok)
    assert conv.usage.calls == len(ok) and conv.usage.failed_calls == 1
    if conv.env.server is not None:  # what the endpoint billed equals what was accounted
        assert (conv.usage.tokens_in, conv.usage.tokens_out) == conv.billed


def test_temperature_and_seed_are_sent(conv: Conversation) -> None:
    want = [s.temperature if s.temperature is not None else TEMPERATURE
            for s in STEPS for _ in s.replies]  # fmt: skip
    if conv.env.server is not None:
        reqs = conv.requests
        assert [r["temperature"] for r in reqs] == want
        assert {r["seed"] for r in reqs} == {SEED} and {r["model"] for r in reqs} == {MODEL}
    if conv.env.cassette is not None:  # record writes them, replay keys on them
        cas = Cassette(conv.env.cassette)
        recorded = [e["request"] for v in cas.entries.values() for e in v]
        assert len(recorded) == len(STEPS)  # final responses/errors only, not the 429
        assert all(r["seed"] == SEED and "temperature" in r for r in recorded)
        assert sorted(r["temperature"] for r in recorded) == sorted(
            s.temperature if s.temperature is not None else TEMPERATURE for s in STEPS
        )


def test_record_writes_every_final_exchange(conv: Conversation, recorded: Path) -> None:
    if conv.env.mode != "record":
        assert conv.env.cassette in (None, recorded)  # live writes none, replay only reads
        return
    assert conv.env.cassette is not None
    mine, ref = Cassette(conv.env.cassette), Cassette(recorded)
    assert set(mine.entries) == set(ref.entries)  # same keys as the module's recording
    errors = [e["error"] for v in mine.entries.values() for e in v if "error" in e]
    assert [(e["kind"], e["status"]) for e in errors] == [("server_error", 500)]


def test_unknown_request_fails_loudly_in_replay(env: Env) -> None:
    llm = env.llm_factory()
    step = STEPS[0]
    msgs = _messages(step)
    if env.server is not None:
        env.server.state.script.clear()
        env.server.push(Reply.text("The paper is about bird songs.\nANSWER: no"))
    if env.mode == "replay":
        with pytest.raises(CassetteMiss, match="replay miss"):
            llm.chat(msgs, agent="reader", prompt_id="reader_filter@1", seed=SEED + 1)
        [row] = _rows(env.store)
        assert row["status"] == "cassette_miss" and "re-record" in row["error"]
        return
    reply = llm.chat(msgs, agent="reader", prompt_id="reader_filter@1", seed=SEED + 1)
    assert parse_yes_no(reply.text) is False
    assert env.server is not None and env.server.requests[-1]["seed"] == SEED + 1


def test_budget_stops_after_the_same_call(env: Env) -> None:
    # a cap reached exactly by the first three calls: the fourth is refused before it starts
    spent = [sum(_expected_tokens(s)) for s in STEPS]
    cap = spent[0] + spent[1] + spent[2]
    llm = env.llm_factory(budget=LLMBudget(max_tokens=cap))
    done = []
    with pytest.raises(BudgetExceeded, match="budget"):
        for s in STEPS:
            done.append(_run_step(llm, s))
    assert done == [s.expected for s in STEPS[:3]]
    assert llm.usage.tokens == cap and llm.budget.exhausted
    # one row per HTTP request (the 429 included); the refused call never happened: no row
    assert len(_rows(env.store)) == sum(len(s.replies) for s in STEPS[:3])
    if env.server is not None:
        assert len(env.server.requests) == sum(len(s.replies) for s in STEPS[:3])
