"""NADER's LLM-step state survives a restore from the store: a rebuilt strategy has the
same step count, the same per-candidate LLM cost (``llm_cost_of``) and the same research
reflections still waiting for the next step as the one that stored the events (scripted
server, real client).

Why the scripted stand-in server: a restore test (state across a rebuild), not one of what a
model answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.agents.nader_strategy import LESSON_EVENT, REFLECTED_EVENT, NaderStrategy
from nas.agents.proxy_eval import ProxyEvaluator
from nas.llm import LLMClient
from nas.records import Candidate, TrialRecord
from nas.strategies.base import Event
from tests.support.scripted_designer_llm import ScriptedDesignerLLM
from tests.support.scripted_openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration


def test_a_rebuild_between_steps_keeps_waiting_reflections_and_step_costs(
    tmp_path: Path,
) -> None:
    with ScriptedOpenAIServer(responder=ScriptedDesignerLLM()) as srv:
        llm = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-local",
                        temperature=0.0, seed=0)  # fmt: skip
        a = NaderStrategy("resnet_basic", llm=llm, seed=0, retries=2)
        ev = ProxyEvaluator()
        history: list[tuple[Candidate, TrialRecord]] = []
        events: list[Event] = []
        for _ in range(3):  # ask, evaluate, tell: each told child leaves a reflection waiting
            cands = a.ask(1)
            history += a.pop_decided()
            for c in cands:
                history.append((c, ev(c)))
            a.tell([h for h in history if h[0].id in {c.id for c in cands}])
            events += a.pop_events()
        pending = a.ask(1)  # asked, not told: its cost must survive the restore
        history += a.pop_decided()
        events += a.pop_events()
        assert len(pending) == 1
        cand = pending[0]
        # the last step reflected the results told before it; a told result after it waits
        told = [(c, ev(c)) for c in pending]
        a.tell(told)
        events += a.pop_events()
        history += told
    waiting = [x.candidate_id for x in a._lessons]
    assert waiting, "a told result waits for the next step's reflection"
    assert any(k == REFLECTED_EVENT for k, _ in events) and any(
        k == LESSON_EVENT for k, _ in events
    )
    b = NaderStrategy("resnet_basic", llm=llm, seed=0, retries=2)
    b.rebuild(history, (), events)
    assert [x.candidate_id for x in b._lessons] == waiting
    assert b._lessons == a._lessons
    assert b._steps == a._steps
    assert b.llm_cost_of(cand.id) == a.llm_cost_of(cand.id) != (0, 0, 0.0)
    assert b.state_summary() == a.state_summary()
