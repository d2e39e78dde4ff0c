"""The structured-output probe of an endpoint (``llm.structured``; see
:mod:`nas.llm.structured`): made once per client, on its first constrained call.

Live and record modes ask ``GET /models`` what serves the endpoint and, under ``auto``,
send one tiny constrained request per answer form the server kind takes. Each probe
request is an ``llm_calls`` row (agent ``structured-probe``, prompt id the probe's
constraint, ``constraint_mode`` what was sent, ``obeyed``); the outcome is logged and handed
to ``client.on_probe`` (a run writes it as an ``llm_structured_probe`` event). Record mode
keeps the outcome in the cassette, so replay sends what the recording sent; a cassette
recorded before constraints holds none, and replay then sends none (its keys are the
unconstrained ones).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from nas.llm.cassette import CassetteMiss, request_key
from nas.llm.prices import cost_usd
from nas.llm.structured import (
    PROBE_MAX_TOKENS,
    PROBE_MESSAGES,
    PROBES,
    ProbeResult,
    Sent,
    ServerProfile,
    form_of,
    probe,
)

if TYPE_CHECKING:
    from nas.llm.client import LLMClient

__all__ = ["PROBE_AGENT", "owned_by_of", "probe_endpoint"]

log = logging.getLogger(__name__)
PROBE_AGENT = "structured-probe"


def owned_by_of(body: object, model: str) -> str:
    """``owned_by`` of ``model`` in a ``GET /models`` body (else of its first model)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not data:
        raise ValueError("GET /models returned no model list")
    entries = [d for d in data if isinstance(d, dict)]
    mine = [d for d in entries if d.get("id") == model] or entries
    if not mine:
        raise ValueError("GET /models returned no model objects")
    return str(mine[0].get("owned_by") or "")


def _cassette_key(client: LLMClient) -> str:
    return request_key("structured-probe", client.model, [], {"setting": client.structured.setting})


def probe_endpoint(client: LLMClient) -> ServerProfile:
    """Probe ``client``'s endpoint under its ``llm.structured`` setting (see the module doc)."""
    from nas.llm.transport import chat_body, error_kind

    setting = client.structured.setting
    key = _cassette_key(client)
    if client.mode == "replay":
        assert client.cassette is not None
        try:
            recorded = client.cassette.lookup(key, "structured-output probe")["response"]
            profile = ServerProfile.from_dict(recorded)
            profile.probe = "replayed from the cassette: " + profile.probe
        except CassetteMiss:
            profile = ServerProfile(setting, probe="replay: the cassette holds no probe "
                                    "(recorded without constraints); nothing is sent")  # fmt: skip
    else:
        sdk = client._client()
        owned_by: str | Exception
        try:
            raw = sdk.models.with_raw_response.list()
            owned_by = owned_by_of(json.loads(raw.http_response.text), client.model)
        except Exception as err:  # an endpoint without /models is an unknown kind
            owned_by = RuntimeError(client._redact(str(err)))

        def send(sent: Sent) -> ProbeResult:
            form = form_of(sent)
            t0 = time.perf_counter()
            try:
                raw = sdk.chat.completions.with_raw_response.create(
                    model=client.model, messages=list(PROBE_MESSAGES), temperature=0.0,
                    max_tokens=PROBE_MAX_TOKENS, **sent.fields(),
                )  # fmt: skip
                body: Any = json.loads(raw.http_response.text)
                result = ProbeResult(form, sent, text=chat_body(body)[0], body=body)
            except Exception as err:
                kind, status = error_kind(err)
                result = ProbeResult(
                    form, sent, error=f"{kind}: {client._redact(str(err))[:300]}", status=status
                )
            _probe_row(client, result, time.perf_counter() - t0)
            return result

        profile, _ = probe(setting, client.base_url, owned_by, send)
        if client.mode == "record" and client.cassette is not None:
            client.cassette.add(key, {"request": {"probe": setting}, "response": profile.as_dict()})
            client.cassette.save()
    log.info("%s", profile.summary())
    if client.on_probe is not None:
        client.on_probe(profile)
    return profile


def _probe_row(client: LLMClient, r: ProbeResult, latency: float) -> None:
    from nas.llm.accounting import call_row
    from nas.llm.transport import chat_body

    tin = tout = 0
    model = client.model
    if r.body is not None:
        _, _, tin, tout, got = chat_body(r.body)
        model = got or model
    cost = cost_usd(client.model, tin, tout, client.prices)
    if r.error:
        client.budget.charge_failure()
    else:
        client.budget.charge(tin, tout, cost)
    status = r.error.split(":")[0] if r.error else "ok"
    constraint = PROBES[r.form]
    row = call_row(
        uuid.uuid4().hex[:16], PROBE_AGENT, constraint.name, "", model, tin, tout, cost,
        latency, False, status, r.error[:2000],
    )  # fmt: skip
    row.update(constraint_name=constraint.name, constraint_mode=r.sent.mode, obeyed=r.obeyed)
    client._emit(row)
