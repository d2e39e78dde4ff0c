"""An endpoint that echoes the Authorization header in its error text: the key appears
nowhere under the run directory (tables, memo, journal, logs), nor in ``archlab status``
or the report (issue #23)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from launcher.cli import main
from nas.grammar import Constraint, Grammar, Lit, Seq, alt_of
from nas.llm import Cassette, LLMClient
from nas.llm.redact import redact
from tests.support.scripted_openai_server import Reply, ScriptedOpenAIServer

pytestmark = pytest.mark.integration

KEY = "sk-test-Zq8vN3xK5mP2rT7wY1uB"
PLAIN_KEY = "plainSecretValue4711"  # not shaped like a key: redacted because it is the key


def _texts(run_dir):
    """Every file's bytes as text, and every Parquet cell (compression could hide bytes)."""
    for f in run_dir.rglob("*"):
        if not f.is_file():
            continue
        yield str(f), f.read_bytes().decode("utf-8", "replace")
        if f.suffix == ".parquet":
            yield str(f) + " (rows)", repr(pq.read_table(f).to_pylist())


@pytest.mark.parametrize("stop_after", [0, 3])
@pytest.mark.parametrize("key", [KEY, PLAIN_KEY])
def test_an_echoed_key_is_written_nowhere(tmp_path, monkeypatch, capfd, key, stop_after):
    """Every call is refused with the key echoed in the error text. ``stop_after=0``: the
    run goes on, recording each failure; ``3`` (the default of ``llm.unreachable_stop_after``):
    three refusals in a row (401 is an answer no retry changes) stop the run as
    ``llm_unreachable``, whose reason also reaches the journal, status and stderr."""
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("ARCHLAB_TEST_EVALUATOR", str(tmp_path / "work"))
    root = tmp_path / "runs"
    script = [Reply.echo_auth_error(500), Reply.echo_auth_error(401)] * 40
    with ScriptedOpenAIServer(script) as srv:
        rc = main(
            [
                "demo",
                "--quiet",
                f"experiment.run_root={root}",
                f"llm.base_url={srv.base_url}",
                "llm.max_retries=1",
                "strategy.nader.modifier_retries=0",
                "budget.candidates=2",
                f"llm.unreachable_stop_after={stop_after}",
            ]
        )
        served = list(srv.state.served)
    out = capfd.readouterr()
    assert rc == (1 if stop_after else 0), out.err
    if stop_after:
        assert "llm_unreachable" in out.err and "[redacted]" in out.err
    assert any(label.startswith("echo-") for label in served), served
    (run_dir,) = [p for p in root.iterdir() if p.is_dir()]
    assert main(["status", str(run_dir)]) == 0
    assert main(["report", str(run_dir), "-o", str(run_dir / "report")]) == 0
    out2 = capfd.readouterr()
    texts = dict(_texts(run_dir))
    assert any("[redacted]" in t for t in texts.values())  # the echo reached the rows, cut
    for name, text in texts.items():
        assert key not in text, name
        assert "Bearer sk-" not in text, name
    assert key not in out.out + out.err + out2.out + out2.err


def test_redact_catches_key_shapes():
    assert redact("Authorization: Bearer abc.def-123456") == "Authorization: Bearer [redacted]"
    assert redact('{"api_key": "q1w2e3r4t5y6"}') == '{"api_key": "[redacted]"}'
    assert redact("Incorrect API key provided: sk-proj-AbC123456789") == (
        "Incorrect API key provided: [redacted]"
    )
    assert (
        redact("kernel_size=3 out_channels=C*2 task-risk")
        == "kernel_size=3 out_channels=C*2 task-risk"
    )


@pytest.mark.parametrize("key", [KEY, PLAIN_KEY])
def test_a_constraint_refusal_that_echoes_the_key_is_redacted(tmp_path, key):
    """The constraint adapters' own error texts (the ``constraint_rejected`` attempt row, the
    call's ``constraint_mode``, the server profile, the cassette) leave the client redacted."""
    cell = Constraint("pick@1", grammar=Grammar({"root": Seq((Lit("op: "), alt_of(["a", "b"])))}))
    rows: list = []
    cassette = Cassette(tmp_path / "c.json")
    with ScriptedOpenAIServer([Reply.text("op: a")], owned_by="me", rejects=["grammar"],
                              refusal_echoes_auth=True) as srv:  # fmt: skip
        llm = LLMClient("m", base_url=srv.base_url, api_key=key, sink=rows.extend,
                        structured="grammar", mode="record", cassette=cassette)  # fmt: skip
        reply = llm.chat([{"role": "user", "content": "pick"}], agent="t", constraint=cell)
    assert reply.text == "op: a" and srv.state.rejected == 1
    assert reply.constraint_mode.startswith("none: rejected by the server")
    refused = [r for r in rows if r["status"] == "constraint_rejected"]
    assert refused and "Authorization" in refused[0]["error"]  # the echo reached the row, cut
    texts = [repr(rows), reply.constraint_mode, repr(llm.structured.as_dict()),
             (tmp_path / "c.json").read_text()]  # fmt: skip
    assert any("[redacted]" in t for t in texts)
    for text in texts:
        assert key not in text
