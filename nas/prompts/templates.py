"""Prompt templates as versioned files with named slots.

A template file ``nas/prompts/<id>.v<version>.txt`` looks like::

    id: modifier
    version: 1
    slots: block, inspiration, experiences
    parser: block
    === system
    You are a neural-architecture engineer ...
    === user
    Base block:
    {{block}}
    ...

``{{name}}`` is a slot. :meth:`PromptTemplate.render` refuses a missing or an unknown slot
(naming the valid ones), so a prompt never goes out with a hole. ``ref`` (``id@version``) is
what is stored with every LLM call and candidate origin. A changed prompt gets a new version
file (old runs keep pointing at the text they used).

    >>> t = load_prompt("reader_filter")
    >>> msgs = t.render(title="ResNet", abstract="Residual learning ...")
    >>> msgs[0]["role"], t.ref
    ('system', 'reader_filter@1')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["PromptTemplate", "TemplateError", "list_prompts", "load_prompt", "parse_template"]

_SLOT = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_FILE = re.compile(r"^(?P<id>[a-z0-9_]+)\.v(?P<version>\d+)\.txt$")


class TemplateError(ValueError):
    """A template file or a render call is wrong; the message says which slot/line."""


@dataclass(frozen=True)
class PromptTemplate:
    id: str
    version: int
    slots: tuple[str, ...]
    parser: str  # name of the parser in nas.prompts.parsers that reads the answer
    system: str
    user: str

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def render(self, **values: object) -> list[dict[str, str]]:
        """``[{"role": "system", ...}, {"role": "user", ...}]`` with every slot filled."""
        missing = [s for s in self.slots if s not in values]
        unknown = [k for k in values if k not in self.slots]
        if missing or unknown:
            raise TemplateError(
                f"prompt {self.ref}: missing slots {missing}, unknown slots {unknown}; "
                f"its slots are: {', '.join(self.slots)}"
            )

        def fill(text: str) -> str:
            return _SLOT.sub(lambda m: str(values[m.group(1)]), text)

        out = []
        if self.system.strip():
            out.append({"role": "system", "content": fill(self.system).strip()})
        out.append({"role": "user", "content": fill(self.user).strip()})
        return out


def parse_template(text: str, source: str = "<string>") -> PromptTemplate:
    """Read a template file's text (header lines, then ``=== system`` / ``=== user``)."""
    header: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith("=== "):
            current = line[4:].strip()
            if current not in ("system", "user"):
                raise TemplateError(f"{source}:{lineno}: section {current!r}: use system or user")
            sections[current] = []
        elif current is None:
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            if not sep:
                raise TemplateError(f"{source}:{lineno}: header line needs 'key: value'")
            header[key.strip()] = value.strip()
        else:
            sections[current].append(line)
    for key in ("id", "version", "slots", "parser"):
        if key not in header:
            raise TemplateError(f"{source}: header {key!r} is missing")
    if "user" not in sections:
        raise TemplateError(f"{source}: no '=== user' section")
    slots = tuple(s.strip() for s in header["slots"].split(",") if s.strip())
    system = "\n".join(sections.get("system", []))
    user = "\n".join(sections["user"])
    used = set(_SLOT.findall(system)) | set(_SLOT.findall(user))
    if used != set(slots):
        raise TemplateError(
            f"{source}: declared slots {sorted(slots)} differ from used slots {sorted(used)}"
        )
    return PromptTemplate(
        header["id"], int(header["version"]), slots, header["parser"], system, user
    )


def list_prompts() -> dict[str, list[int]]:
    """Bundled prompt ids and their versions."""
    out: dict[str, list[int]] = {}
    for entry in resources.files("nas.prompts").iterdir():
        m = _FILE.match(entry.name)
        if m:
            out.setdefault(m.group("id"), []).append(int(m.group("version")))
    return {k: sorted(v) for k, v in sorted(out.items())}


@cache
def load_prompt(prompt_id: str, version: int | None = None) -> PromptTemplate:
    """A bundled template (the newest version unless ``version`` is given)."""
    known = list_prompts()
    if prompt_id not in known:
        raise TemplateError(f"no prompt {prompt_id!r}; prompts are: {', '.join(known)}")
    v = version if version is not None else known[prompt_id][-1]
    if v not in known[prompt_id]:
        raise TemplateError(f"prompt {prompt_id!r} has versions {known[prompt_id]}, not {v}")
    name = f"{prompt_id}.v{v}.txt"
    text = resources.files("nas.prompts").joinpath(name).read_text(encoding="utf-8")
    t = parse_template(text, name)
    if t.id != prompt_id or t.version != v:
        raise TemplateError(f"{name}: header says {t.ref}, file name says {prompt_id}@{v}")
    return t
