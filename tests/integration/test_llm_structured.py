"""Constrained decoding through the real openai client against the scripted server playing
each kind of endpoint (nas.llm.structured): what is sent per server kind, the probe, a
constraint the server rejects (not retried, sent again without it), a server that accepts a
constraint and ignores it (noticed, recorded, parse-and-repair goes on), and cassettes.

The stand-in server is used because each case is a server behaviour (an owned_by, an HTTP
500 on a field, an answer that ignores the grammar) the real model server cannot be made to
show on demand."""

from __future__ import annotations

import json

import pytest

from nas.grammar import Constraint, Grammar, Lit, Seq, alt_of
from nas.llm import Cassette, LLMClient
from tests.support.scripted_openai_server import Reply, ScriptedOpenAIServer

MSG = [{"role": "user", "content": "Pick an op."}]
CELL = Constraint("pick@1", grammar=Grammar({"root": Seq((Lit("op: "), alt_of(["conv", "skip"])))}))
JSON = Constraint(
    "pick-json@1", json_schema={"type": "object", "properties": {"op": {"type": "string"}}}
)
GRAMMAR_PROBE_OK = Reply.text("412", label="probe-grammar")
JSON_PROBE_OK = Reply.text('{"n": 3}', label="probe-json")


def client(srv: ScriptedOpenAIServer, rows: list, **kw: object) -> LLMClient:
    return LLMClient("m", base_url=srv.base_url, api_key="sk-test", sink=rows.extend,
                     timeout_s=5.0, max_retries=2, **kw)  # type: ignore[arg-type]  # fmt: skip


def chat_rows(rows: list) -> list:
    return [r for r in rows if r["agent"] == "t"]


def test_llamacpp_auto_probes_then_sends_gbnf_and_records_it() -> None:
    rows: list = []
    script = [GRAMMAR_PROBE_OK, JSON_PROBE_OK, Reply.text("op: skip"), Reply.text('{"op": "x"}')]
    with ScriptedOpenAIServer(script, owned_by="me") as srv:
        llm = client(srv, rows)
        reply = llm.chat(MSG, agent="t", constraint=CELL)
        assert (reply.text, reply.constraint, reply.constraint_mode, reply.obeyed) == (
            "op: skip", "pick@1", "gbnf", True)  # fmt: skip
        assert llm.structured.kind == "llamacpp"
        assert llm.structured.forms == {"grammar": "ok", "json": "ok"}
        sent = srv.requests[2]
        assert sent["grammar"] == CELL.grammar.gbnf() and "response_format" not in sent  # type: ignore[union-attr]
        # a schema-only constraint goes as json_object + schema (llama-cpp-python's form)
        assert llm.chat(MSG, agent="t", constraint=JSON).constraint_mode == "json_object"
        assert srv.requests[3]["response_format"] == {
            "type": "json_object",
            "schema": JSON.json_schema,
        }
        # no constraint: nothing is sent
        srv.push(Reply.text("free"))
        assert llm.chat(MSG, agent="t").constraint_mode == ""
        assert "grammar" not in srv.requests[4] and "response_format" not in srv.requests[4]
    probes = [r for r in rows if r["agent"] == "structured-probe"]
    assert [(r["constraint_mode"], r["obeyed"], r["status"]) for r in probes] == [
        ("gbnf", True, "ok"), ("json_object", True, "ok")]  # fmt: skip
    assert [(r["constraint_name"], r["constraint_mode"], r["obeyed"]) for r in chat_rows(rows)] == [
        ("pick@1", "gbnf", True), ("pick-json@1", "json_object", True), (None, None, None)]  # fmt: skip


def test_a_rejected_form_is_recorded_not_retried_and_the_call_goes_on_unconstrained() -> None:
    rows: list = []
    # told to send grammars (no probe): the server answers a grammar with HTTP 500
    with ScriptedOpenAIServer([Reply.text("op: conv"), Reply.text("op: conv")], owned_by="me",
                              rejects=["grammar"]) as srv:  # fmt: skip
        llm = client(srv, rows, structured="grammar")
        reply = llm.chat(MSG, agent="t", constraint=CELL)
        assert reply.text == "op: conv" and reply.obeyed is True
        assert reply.constraint_mode.startswith("none: rejected by the server (HTTP 500")
        assert srv.state.rejected == 1 and len(srv.requests) == 2  # one refusal, no retry of it
        assert "grammar" not in srv.requests[1]
        assert llm.structured.forms["grammar"].startswith("off: rejected")
        llm.chat(MSG, agent="t", constraint=CELL)  # the form is not sent again
        assert len(srv.requests) == 3 and "grammar" not in srv.requests[2]
    first = chat_rows(rows)[:2]
    assert [(r["status"], r["attempt"], r["retried"]) for r in first] == [
        ("constraint_rejected", 1, True), ("ok", 2, False)]  # fmt: skip
    assert chat_rows(rows)[2]["constraint_mode"].startswith("none: grammar off: rejected")


def test_auto_probe_turns_off_what_the_server_rejects_openai_json_schema_500() -> None:
    rows: list = []
    # an OpenAI-kind endpoint that answers json_schema with 500 (as llama-cpp-python does)
    with ScriptedOpenAIServer([Reply.text('{"op": "conv"}')], owned_by="openai",
                              rejects=["json_schema"]) as srv:  # fmt: skip
        llm = client(srv, rows)
        reply = llm.chat(MSG, agent="t", constraint=JSON)
        assert reply.text == '{"op": "conv"}'
        assert reply.constraint_mode.startswith("none: json off: rejected (HTTP 500)")
        assert len(srv.requests) == 2  # the probe (refused, not retried) and the call
    probe = [r for r in rows if r["agent"] == "structured-probe"]
    assert [(r["constraint_mode"], r["status"]) for r in probe] == [("json_schema", "server_error")]


def test_a_server_that_ignores_the_grammar_is_noticed_and_parse_and_repair_goes_on() -> None:
    rows: list = []
    # the probe's grammar is obeyed, then an answer comes back that ignores the grammar
    script = [GRAMMAR_PROBE_OK, JSON_PROBE_OK, Reply.text("I would use a conv."),
              Reply.text("op: conv")]  # fmt: skip
    with ScriptedOpenAIServer(script, owned_by="llamacpp") as srv:
        llm = client(srv, rows)
        bad = llm.chat(MSG, agent="t", constraint=CELL)
        assert (bad.constraint_mode, bad.obeyed) == ("gbnf", False)
        assert llm.structured.forms["grammar"].startswith("off: ignored")
        good = llm.chat(MSG, agent="t", constraint=CELL)  # unconstrained now, still checked
        assert good.obeyed is True and good.constraint_mode.startswith("none: grammar off: ignored")
        assert "grammar" not in srv.requests[3]


def test_a_server_that_ignores_the_probe_gets_no_constraint() -> None:
    rows: list = []
    with ScriptedOpenAIServer([Reply.text("Hello!"), Reply.text("Hello"), Reply.text("x")],
                              owned_by="vllm") as srv:  # fmt: skip
        llm = client(srv, rows)
        reply = llm.chat(MSG, agent="t", constraint=CELL)
        assert reply.obeyed is False and reply.constraint_mode.startswith(
            "none: grammar off: ignored"
        )
        # the probe went in vLLM's structured_outputs form
        assert srv.requests[0]["structured_outputs"] == {"grammar": llm_probe_gbnf()}
        assert srv.requests[1]["structured_outputs"]["json"]["required"] == ["n"]
        assert "structured_outputs" not in srv.requests[2]


def llm_probe_gbnf() -> str:
    from nas.llm.structured import PROBES

    g = PROBES["grammar"].grammar
    assert g is not None
    return g.gbnf()


def test_vllm_and_openai_adapters() -> None:
    rows: list = []
    with ScriptedOpenAIServer([GRAMMAR_PROBE_OK, JSON_PROBE_OK, Reply.text("op: conv")],
                              owned_by="vllm") as srv:  # fmt: skip
        reply = client(srv, rows).chat(MSG, agent="t", constraint=CELL)
        assert reply.constraint_mode == "structured_outputs.grammar"
        assert srv.requests[2]["structured_outputs"] == {"grammar": CELL.grammar.gbnf()}  # type: ignore[union-attr]
    with ScriptedOpenAIServer([JSON_PROBE_OK, Reply.text('{"op": "a"}'), Reply.text("op: conv")],
                              owned_by="system") as srv:  # fmt: skip
        llm = client(srv, rows)
        assert llm.chat(MSG, agent="t", constraint=JSON).constraint_mode == "json_schema"
        fmt = srv.requests[1]["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        assert fmt["json_schema"]["schema"] == JSON.json_schema
        # a grammar-only constraint: OpenAI takes none, today's parse-and-repair path
        r = llm.chat(MSG, agent="t", constraint=CELL)
        assert r.constraint_mode.startswith("none: an OpenAI endpoint takes JSON Schema only")
        assert r.obeyed is True and "response_format" not in srv.requests[2]


def test_unknown_server_and_off_send_nothing_and_keep_the_unconstrained_key(tmp_path) -> None:
    rows: list = []
    with ScriptedOpenAIServer([Reply.text("op: conv")] * 3) as srv:  # owned_by names no kind
        llm = client(srv, rows)
        r = llm.chat(MSG, agent="t", constraint=CELL)
        assert r.constraint_mode.startswith("none: server kind unknown") and r.obeyed is True
        assert len(srv.requests) == 1  # no probe request: nothing to probe
        off = client(srv, rows, structured="off")
        assert (
            off.chat(MSG, agent="t", constraint=CELL).constraint_mode == "none: llm.structured=off"
        )
        # a cassette recorded without constraints replays a constrained call (same key)
        cas = tmp_path / "c.json"
        rec = client(srv, rows, mode="record", cassette=cas, structured="off")
        rec.chat(MSG, agent="t")
    rep = LLMClient("m", mode="replay", cassette=cas, sink=rows.extend)
    got = rep.chat(MSG, agent="t", constraint=CELL)
    assert got.text == "op: conv" and got.constraint_mode.startswith("none: server kind unknown")
    assert "cassette holds no probe" in rep.structured.probe


def test_record_then_replay_a_constrained_call(tmp_path) -> None:
    cas = tmp_path / "c.json"
    rows: list = []
    with ScriptedOpenAIServer([GRAMMAR_PROBE_OK, JSON_PROBE_OK, Reply.text("op: skip"),
                               Reply.text("op: conv")], owned_by="me") as srv:  # fmt: skip
        rec = client(srv, rows, mode="record", cassette=cas)
        assert rec.chat(MSG, agent="t", constraint=CELL).text == "op: skip"
        assert rec.chat(MSG, agent="t").text == "op: conv"  # the same prompt, unconstrained
    data = json.loads(cas.read_text())
    assert len(data["entries"]) == 3  # the probe, the constrained call, the unconstrained one
    rep = LLMClient("m", mode="replay", cassette=Cassette(cas), sink=rows.extend)
    assert rep.chat(MSG, agent="t").text == "op: conv"  # not confused with the constrained one
    got = rep.chat(MSG, agent="t", constraint=CELL)
    assert (got.text, got.constraint_mode, got.obeyed) == ("op: skip", "gbnf", True)
    assert rep.structured.forms["grammar"] == "ok" and "replayed" in rep.structured.probe


def test_bad_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="llm.structured='json'"):
        LLMClient("m", base_url="http://127.0.0.1:9/v1", structured="json")


def test_status_line_counts_obeyed_answers_per_mode() -> None:
    from launcher.commands.status import _constrained

    rows = [
        {"agent": "llmatic", "constraint_mode": "gbnf", "obeyed": True},
        {"agent": "llmatic", "constraint_mode": "gbnf", "obeyed": False},
        {"agent": "llmatic", "constraint_mode": "none: grammar off: ignored", "obeyed": True},
        {"agent": "structured-probe", "constraint_mode": "gbnf", "obeyed": True},
        {"agent": "reader", "constraint_mode": None, "obeyed": None},
    ]
    assert _constrained(rows) == "; constrained: gbnf 1/2 obeyed, none 1/1 obeyed"
    assert _constrained(rows[-1:]) == ""


def test_status_names_the_server_the_latest_probe_found() -> None:
    from launcher.commands.status import _server
    from nas.llm.structured import ServerProfile

    old = ServerProfile("auto", "unknown", "x", {}, "GET /models: owned_by 'x'")
    new = ServerProfile("auto", "llamacpp", "me", {"grammar": "ok", "json": "off: rejected"})
    events = [
        {"kind": "llm_structured_probe", "payload": json.dumps(new.as_dict()), "created_at": 2.0},
        {"kind": "llm_structured_probe", "payload": json.dumps(old.as_dict()), "created_at": 1.0},
        {"kind": "run_started", "payload": "{}", "created_at": 3.0},
    ]
    assert _server(events) == "; server llamacpp: grammar=ok, json=off: rejected"
    assert _server(events[1:2]) == "; server unknown: nothing sent"
    assert _server(events[2:]) == ""


def test_the_setting_is_checked_where_the_config_is_read() -> None:
    from launcher.config.load import ConfigError, load_config

    assert load_config().llm.structured == "auto"
    assert load_config(overrides=["llm.structured=off"]).llm.structured == "off"
    with pytest.raises(ConfigError, match="llm.structured"):
        load_config(overrides=["llm.structured=json"])
    # on/off/yes/no on the command line are words, as in config files (a bool field converts)
    assert load_config(overrides=["train.amp=off"]).train.amp == "off"


def test_a_replay_client_sharing_the_cassette_sends_what_the_recording_probed(tmp_path) -> None:
    """The bench's replay-then-record pairing: once the recording client has probed, a
    replay client on the same cassette object keys its requests the same way."""
    rows: list = []
    cas = Cassette(tmp_path / "c.json")
    with ScriptedOpenAIServer([GRAMMAR_PROBE_OK, JSON_PROBE_OK, Reply.text("op: conv")],
                              owned_by="me") as srv:  # fmt: skip
        rec = client(srv, rows, mode="record", cassette=cas)
        assert rec.probe().forms == {"grammar": "ok", "json": "ok"}
        assert rec.chat(MSG, agent="t", constraint=CELL).text == "op: conv"
    rep = LLMClient("m", mode="replay", cassette=cas, sink=rows.extend)
    got = rep.chat(MSG, agent="t", constraint=CELL)
    assert (got.text, got.constraint_mode) == ("op: conv", "gbnf")


def test_llmatic_against_a_server_that_ignores_the_grammar_falls_back_and_goes_on() -> None:
    """The whole path: the probe said the grammar is obeyed, then the server answers prose
    anyway; LLMatic's parser refuses it, the rule operator stands in (recorded), the grammar
    is not sent again, and the next LLM answer is used -- no crash."""
    import numpy as np

    from nas.records import TrialRecord, TrialState
    from nas.spaces import NB201Space
    from nas.strategies.llm import LLMCompletion
    from nas.strategies.llmatic import LLMatic
    from nas.strategies.operators import LLMOperators

    sp = NB201Space()
    cell = "\n".join(f"{p.name}: {p.choices[2]}" for p in sp.positions)
    script = [GRAMMAR_PROBE_OK, JSON_PROBE_OK, Reply.text("I would add a skip connection."),
              Reply.text(cell)]  # fmt: skip
    rows: list = []
    with ScriptedOpenAIServer(script, owned_by="me") as srv:
        llm = client(srv, rows)
        s = LLMatic(operators=LLMOperators(LLMCompletion(llm, "llmatic")),
                    rng=np.random.default_rng(0), niches=10, init_size=1,
                    mutation_prob=1.0)  # fmt: skip
        for _ in range(3):
            [c] = s.ask(1)
            s.tell([(c, TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": 0.5}))])
        assert "grammar" in srv.requests[2] and "grammar" not in srv.requests[3]
    agents = [c.origin.agent for c, _ in s.history]
    assert agents[1] == "rule-based-operators:mutation(fallback)" and s.operator_failures
    assert agents[2] == "llm-operators:mutation" and s.history[2][0].arch == sp.validate(
        s.history[2][0].arch
    )
    calls = [r for r in rows if r["agent"] == "llmatic"]
    assert [(r["constraint_mode"].split(":")[0], r["obeyed"]) for r in calls] == [
        ("gbnf", False), ("none", True)]  # fmt: skip


@pytest.mark.parametrize("answer", ["block", "edits"])
def test_the_modifiers_answer_forms_reach_a_llamacpp_server_as_gbnf(answer: str) -> None:
    """NADER's Modifier passes block@1 (base and derive) or its edit form (edits@2 by
    default) to chat; through the adapters they reach the server as GBNF and each row records
    the form and obedience."""
    from nas.agents.config import NaderConfig
    from nas.agents.modifier import Modifier, base_checker
    from nas.graph.edits import EDIT_FORMS, edits_constraint
    from nas.graph.grammar_block import block_constraint
    from nas.graph.seeds import seed_blocks
    from nas.graph.text import serialize

    blocks = seed_blocks("resnet_basic")
    base = blocks["ResNetBasic"]
    if answer == "edits":
        script = [Reply.text("set 2 kernel_size=5\n")]
        forms = [edits_constraint(base, EDIT_FORMS[f"edits@{NaderConfig.answer_version}"])]
    else:
        changed = "```\n" + serialize(base).replace("8:ReLU", "8:GELU") + "```"
        derived = "```\n" + serialize(list(blocks.values())[1:]) + "```"
        script = [Reply.text(changed), Reply.text(derived)]
        forms = [block_constraint(base.name), block_constraint(*list(blocks)[1:])]
    rows: list = []
    with ScriptedOpenAIServer(script, owned_by="me") as srv:
        llm = client(srv, rows, structured="grammar")
        mod = Modifier(llm, base_checker({"kind": "stages", "width": 16}), lambda b: [],
                       retries=0, answer=answer)  # fmt: skip
        res = mod.modify(blocks, "Use a wider kernel.")
        sent = [r for r in srv.requests if r["path"].endswith("/chat/completions")]
    assert res.status == "ok"
    assert [r.get("grammar") for r in sent] == [c.grammar.gbnf() for c in forms]  # type: ignore[union-attr]
    calls = [r for r in rows if r["agent"] == "modifier"]
    assert [(r["constraint_name"], r["constraint_mode"], r["obeyed"]) for r in calls] == [
        (c.name, "gbnf", True) for c in forms
    ]


def test_llmatic_edit_mutations_reach_a_llamacpp_server_as_a_per_parent_gbnf() -> None:
    """Mutation as an edit through the real client: each request carries the parent's edit
    grammar (only unproposed cells), the server's answer obeys it, every answer becomes a new
    candidate -- no repeat, no fallback."""
    import numpy as np

    from nas.records import TrialRecord, TrialState
    from nas.strategies.llm import LLMCompletion
    from nas.strategies.llmatic import LLMatic
    from nas.strategies.operators import LLMOperators

    def responder(req: dict) -> str:  # the prompt's example edit (a model copying it)
        user = req["messages"][-1]["content"]
        return user.split("for example '")[1].split("'")[0].replace(" / ", "\n")

    rows: list = []
    with ScriptedOpenAIServer([GRAMMAR_PROBE_OK, JSON_PROBE_OK], responder, owned_by="me") as srv:
        llm = client(srv, rows)
        ops = LLMOperators(LLMCompletion(llm, "llmatic"), mutation_answer="edit")
        s = LLMatic(operators=ops, rng=np.random.default_rng(0), niches=10, init_size=2,
                    mutation_prob=1.0)  # fmt: skip
        for _ in range(12):
            [c] = s.ask(1)
            s.tell([(c, TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": 0.5}))])
        sent = srv.requests[2:]
    assert len(sent) == 10 and all(r["grammar"].startswith("root ::= ") for r in sent)
    calls = [r for r in rows if r["agent"] == "llmatic"]
    assert {(r["constraint_name"], r["constraint_mode"], r["obeyed"]) for r in calls} == {
        ("llmatic_edit1@1", "gbnf", True)}  # fmt: skip
    assert s.operator_failures == [] and ops.repeats == 0
    assert [c.origin.agent for c, _ in s.history][2:] == ["llm-operators:mutation"] * 10
