"""Constrained decoding: what the client sends for a :class:`~nas.grammar.Constraint`,
per kind of server, and what it learnt about the server (probed, never assumed).

``llm.structured`` (:data:`STRUCTURED_MODES`):

* ``auto`` (default): the first constrained call probes the endpoint -- ``GET /models``
  (``owned_by``: ``llamacpp``/``me`` = a llama.cpp server, ``vllm``, ``openai``/``system``
  = OpenAI; anything else is ``unknown`` and nothing is sent), then one tiny request per
  answer form the kind takes (GBNF grammar, JSON Schema), checked for obedience. Only a
  form that was accepted *and* obeyed is sent afterwards. The probe is written as
  ``llm_calls`` rows (agent ``structured-probe``), a log line, and (in a run) an
  ``llm_structured_probe`` event.
* ``grammar`` / ``json_schema``: send only that form, without the obedience probe (the
  server kind still comes from ``GET /models``; unknown -> llama.cpp's ``grammar`` field
  for ``grammar``, OpenAI's ``response_format`` for ``json_schema``).
* ``off``: send nothing (every caller keeps its parse-and-repair path).

Adapters (:data:`ADAPTERS`), one per server kind:

=========  =========================================  =======================================
kind       grammar (GBNF)                             JSON Schema
=========  =========================================  =======================================
llamacpp   ``extra_body={"grammar": gbnf}``           ``response_format={"type":
                                                      "json_object", "schema": s}``
vllm       ``extra_body={"structured_outputs":        ``extra_body={"structured_outputs":
           {"grammar": gbnf}}``                       {"json": s}}``
openai     (none: OpenAI takes no grammar)            ``response_format={"type":
                                                      "json_schema", "json_schema": {...,
                                                      "strict": true}}``
=========  =========================================  =======================================

After the probe, the server can still turn a form down (:meth:`ServerProfile.reject`, an
HTTP 400/422/500 on a constrained request: not retried as a transport error, the request is
sent again without the constraint) or be found ignoring it (:meth:`ServerProfile.disobeyed`:
an answer that is not a sentence of the grammar although it stopped on its own); either
switches that form off for the rest of the client's life, with the reason on the rows
(``constraint_mode`` = ``none: ...``) and in the log. The answers are always checked, since
several servers fail open.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from nas.grammar import Chars, Constraint, Grammar, Lit, Rep, Seq

__all__ = [
    "ADAPTERS",
    "FORMS",
    "PROBES",
    "REJECT_STATUSES",
    "SERVER_KINDS",
    "STRUCTURED_MODES",
    "ProbeResult",
    "Sent",
    "ServerProfile",
    "form_of",
    "json_matches",
    "kind_of",
    "none",
    "obeys",
    "probe",
    "send_for",
]

log = logging.getLogger(__name__)

STRUCTURED_MODES = ("auto", "grammar", "json_schema", "off")
SERVER_KINDS = ("llamacpp", "vllm", "openai", "unknown")
FORMS = ("grammar", "json")  # the two answer forms a constraint can be sent in
# HTTP statuses that, on a constrained request, mean "this server does not take it"
# (llama-cpp-python 0.3.36 answers an OpenAI json_schema with 500, not 400)
REJECT_STATUSES = (400, 422, 500)

_OWNED_BY = {
    "llamacpp": "llamacpp",  # llama.cpp's own server
    "me": "llamacpp",  # llama-cpp-python's server
    "vllm": "vllm",
    "openai": "openai",
    "system": "openai",
    "openai-internal": "openai",
}


def kind_of(owned_by: str, base_url: str = "") -> str:
    """The server kind that ``GET /models``' ``owned_by`` names (``unknown`` otherwise)."""
    kind = _OWNED_BY.get(owned_by.strip().lower(), "unknown")
    if kind == "unknown" and "api.openai.com" in base_url:
        return "openai"
    return kind


@dataclass(frozen=True)
class Sent:
    """What one request carries for its constraint.

    ``mode`` is what the row records as ``constraint_mode``: ``gbnf``, ``json_object``,
    ``json_schema``, ``structured_outputs.grammar``, ``structured_outputs.json``, or
    ``none: <why>``. ``extra_body`` / ``response_format`` are the request fields."""

    mode: str
    extra_body: Mapping[str, object] | None = None
    response_format: Mapping[str, object] | None = None

    @property
    def sent(self) -> bool:
        return self.extra_body is not None or self.response_format is not None

    def fields(self) -> dict[str, object]:
        """Keyword arguments for the SDK's ``chat.completions.create``."""
        out: dict[str, object] = {}
        if self.extra_body is not None:
            out["extra_body"] = dict(self.extra_body)
        if self.response_format is not None:
            out["response_format"] = dict(self.response_format)
        return out

    def key(self) -> str:
        """What the request key adds (cassettes and the memo keep a constrained call apart
        from an unconstrained one, and one grammar from another): "" when nothing is sent."""
        if not self.sent:
            return ""
        return self.mode + ":" + json.dumps(self.fields(), sort_keys=True)


def none(why: str) -> Sent:
    return Sent(f"none: {why}")


def _gbnf(c: Constraint) -> str:
    assert c.grammar is not None
    return c.grammar.gbnf()


def _llamacpp(c: Constraint, form: str) -> Sent:
    if form == "grammar":
        return Sent("gbnf", extra_body={"grammar": _gbnf(c)})
    return Sent("json_object", response_format={"type": "json_object", "schema": c.json_schema})


def _vllm(c: Constraint, form: str) -> Sent:
    if form == "grammar":
        return Sent("structured_outputs.grammar",
                    extra_body={"structured_outputs": {"grammar": _gbnf(c)}})  # fmt: skip
    return Sent(
        "structured_outputs.json", extra_body={"structured_outputs": {"json": c.json_schema}}
    )


def _openai(c: Constraint, form: str) -> Sent:
    if form == "grammar":
        return none("an OpenAI endpoint takes no grammar")
    name = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in c.name)[:64]
    return Sent("json_schema", response_format={
        "type": "json_schema", "json_schema": {"name": name, "schema": c.json_schema, "strict": True},
    })  # fmt: skip


ADAPTERS = {"llamacpp": _llamacpp, "vllm": _vllm, "openai": _openai}
# the forms each kind takes, in the order they are preferred
_KIND_FORMS = {"llamacpp": ("grammar", "json"), "vllm": ("grammar", "json"), "openai": ("json",)}


@dataclass
class ServerProfile:
    """What this client knows of the endpoint's structured output.

    ``forms[f]`` is ``ok``, ``untested`` (sent without a probe: ``llm.structured=grammar`` or
    ``json_schema``), or ``off: <why>`` (not sent). ``probe`` is a one-line account of how
    it was learnt (what ``GET /models`` said, each probe's answer)."""

    setting: str
    kind: str = "unknown"
    owned_by: str = ""
    forms: dict[str, str] = field(default_factory=dict)
    probe: str = ""

    @property
    def usable(self) -> tuple[str, ...]:
        return tuple(
            f for f in FORMS if self.forms.get(f, "off").split(":")[0] in ("ok", "untested")
        )

    def as_dict(self) -> dict[str, object]:
        return {"setting": self.setting, "kind": self.kind, "owned_by": self.owned_by,
                "forms": dict(self.forms), "probe": self.probe}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> ServerProfile:
        forms = d.get("forms")
        return cls(
            str(d.get("setting", "auto")),
            str(d.get("kind", "unknown")),
            str(d.get("owned_by", "")),
            {str(k): str(v) for k, v in forms.items()} if isinstance(forms, dict) else {},
            str(d.get("probe", "")),
        )

    def summary(self) -> str:
        forms = ", ".join(f"{f}={s}" for f, s in sorted(self.forms.items())) or "none"
        return f"llm.structured={self.setting}: server kind {self.kind} ({forms}); {self.probe}"

    def reject(self, form: str, why: str) -> None:
        """The server turned a constrained request down: that form is sent no more."""
        self.forms[form] = f"off: rejected ({why[:160]})"
        log.warning("structured output: the server rejected a %s constraint (%s); it is not "
                    "sent again, answers go through parse-and-repair", form, why[:160])  # fmt: skip

    def disobeyed(self, form: str, constraint: str) -> None:
        """An answer sent with a constraint is not a sentence of it (and was not cut off):
        the server ignores that form (fails open); it is sent no more."""
        self.forms[form] = f"off: ignored (an answer to {constraint} disobeyed it)"
        log.warning("structured output: the server ignored a %s constraint (%s's answer does "
                    "not obey it); it is not sent again, answers go through parse-and-repair",
                    form, constraint)  # fmt: skip


def form_of(sent: Sent) -> str:
    """The answer form a sent constraint used (``grammar``/``json``)."""
    return "grammar" if "gbnf" in sent.mode or sent.mode.endswith("grammar") else "json"


def send_for(profile: ServerProfile, c: Constraint) -> Sent:
    """What to send for ``c`` under ``profile`` (``none: <why>`` when nothing fits)."""
    if profile.setting == "off":
        return none("llm.structured=off")
    if profile.kind not in ADAPTERS:
        return none(f"server kind {profile.kind} ({profile.probe or 'not probed'})")
    has = {"grammar": c.grammar is not None, "json": c.json_schema is not None}
    reasons = []
    for form in _KIND_FORMS[profile.kind]:
        state = profile.forms.get(form, "off: not probed")
        if not has[form]:
            reasons.append(f"{c.name} has no {form}")
        elif form in profile.usable:
            return ADAPTERS[profile.kind](c, form)
        else:
            reasons.append(f"{form} {state}")
    if profile.kind == "openai" and c.json_schema is None:
        return none("an OpenAI endpoint takes JSON Schema only; " + "; ".join(reasons))
    return none("; ".join(reasons))


# ------------------------------------------------------------------- the probe's requests
# A tiny prompt the constraint must override: asked for a word, the answer must be digits
# (grammar) or {"n": <integer>} (JSON) -- an ignored constraint shows.
PROBE_MESSAGES = ({"role": "user", "content": "Say hello in one word."},)
PROBES = {
    "grammar": Constraint("probe-digits@1", grammar=Grammar(
        {"root": Seq((Lit("4"), Rep(Chars("0-9"), 2, 2)))})),
    "json": Constraint("probe-json@1", json_schema={
        "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
        "additionalProperties": False}),
}  # fmt: skip
PROBE_MAX_TOKENS = 24


def probe_obeyed(form: str, text: str) -> bool:
    """Whether a probe's answer obeyed its constraint."""
    return obeys(PROBES[form], text.strip(), Sent(""))


@dataclass(frozen=True)
class ProbeResult:
    """One probe request: the form tried, what was sent, and the answer or the error."""

    form: str
    sent: Sent
    text: str = ""
    error: str = ""  # "" = answered; else the client's error kind and message
    status: int = 0  # the HTTP status of a refused request (0: none)
    body: Mapping[str, object] | None = None  # the raw response (for accounting)

    @property
    def obeyed(self) -> bool | None:
        return None if self.error else probe_obeyed(self.form, self.text)


def probe(
    setting: str,
    base_url: str,
    owned_by: str | Exception,
    send: Callable[[Sent], ProbeResult],
) -> tuple[ServerProfile, list[ProbeResult]]:
    """The profile of an endpoint under ``setting``: ``owned_by`` is what ``GET /models``
    said (or the error it raised); ``send(sent)`` makes one probe request (``auto`` only)."""
    profile = ServerProfile(setting)
    if setting == "off":
        profile.probe = "nothing is sent (llm.structured=off)"
        return profile, []
    if isinstance(owned_by, Exception):
        profile.probe = f"GET /models failed ({str(owned_by)[:160]})"
    else:
        profile.owned_by = owned_by
        profile.kind = kind_of(owned_by, base_url)
        profile.probe = f"GET /models: owned_by {owned_by!r}"
    if setting in ("grammar", "json_schema"):
        form = "grammar" if setting == "grammar" else "json"
        if profile.kind == "unknown":  # told to send it: the usual carrier of that form
            profile.kind = "llamacpp" if form == "grammar" else "openai"
            profile.probe += f"; kind taken as {profile.kind} for llm.structured={setting}"
        ok = form in _KIND_FORMS[profile.kind]
        profile.forms[form] = "untested" if ok else f"off: a {profile.kind} server takes no {form}"
        return profile, []
    results = []
    for form in _KIND_FORMS.get(profile.kind, ()):
        sent = ADAPTERS[profile.kind](PROBES[form], form)
        r = send(sent)
        results.append(r)
        if r.error:
            why = f"HTTP {r.status}" if r.status else r.error[:120]
            profile.forms[form] = ("off: rejected (" if r.status in REJECT_STATUSES
                                   else "off: probe failed (") + why + ")"  # fmt: skip
        elif r.obeyed:
            profile.forms[form] = "ok"
        else:
            profile.forms[form] = f"off: ignored (probe answer {r.text[:40]!r})"
        profile.probe += f"; {form} probe ({sent.mode}): {profile.forms[form]}"
    if profile.kind == "unknown":
        profile.probe += "; no adapter for this server, nothing is sent"
    return profile, results


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,),
    "number": (int, float), "boolean": (bool,), "null": (type(None),),
}  # fmt: skip


def json_matches(schema: Mapping[str, object], value: object) -> bool:
    """Whether ``value`` holds to ``schema`` in the subset of JSON Schema the answer forms
    use (``type``, ``enum``, ``properties``, ``required``, ``additionalProperties: false``,
    ``items``, ``minItems``, ``maxItems``); other keywords are not checked."""
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _JSON_TYPES:
        if not isinstance(value, _JSON_TYPES[kind]) or (
            isinstance(value, bool) and kind in ("integer", "number")
        ):
            return False
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return False
    if isinstance(value, dict):
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = schema.get("required")
        if isinstance(required, list) and any(k not in value for k in required):
            return False
        if schema.get("additionalProperties") is False and any(k not in props for k in value):
            return False
        return all(json_matches(props[k], v) for k, v in value.items() if k in props)
    if isinstance(value, list):
        lo, hi, items = schema.get("minItems"), schema.get("maxItems"), schema.get("items")
        if (isinstance(lo, int) and len(value) < lo) or (isinstance(hi, int) and len(value) > hi):
            return False
        return not isinstance(items, dict) or all(json_matches(items, v) for v in value)
    return True


def obeys(c: Constraint, text: str, sent: Sent) -> bool:
    """Whether ``text`` obeys ``c`` in the form that was sent (a JSON form is checked
    against the schema; otherwise the grammar is the check, when there is one)."""
    if c.grammar is not None and not (sent.sent and form_of(sent) == "json"):
        return c.grammar.accepts(text)
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return json_matches(c.json_schema or {}, value)
