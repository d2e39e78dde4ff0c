"""The Reader: builds a knowledge pool from a local corpus.

Corpus formats (:func:`load_corpus`): JSONL/JSON of ``{title, abstract, text}`` (or arXiv
metadata dumps: ``{id, title, abstract}``), and ``.txt``/``.md`` papers (title = first
heading/line, abstract = the "Abstract" section, text = everything). For each paper an LLM
relevance filter reads title + abstract (``reader_filter``); relevant papers' method
section (``reader_extract``) yields inspirations, each stored with its paper id. Without an
LLM a keyword filter and sentence extraction stand in (``source="rule-based"``).
:func:`parse_arxiv_atom` reads an arXiv API response (for machines with internet:
``fetch_arxiv``).
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.agents.knowledge import Inspiration, KnowledgePool
from nas.llm.budget import BudgetExceeded
from nas.llm.client import LLMError
from nas.prompts import PromptParseError, load_prompt, parse_list, parse_yes_no

__all__ = ["Paper", "Reader", "fetch_arxiv", "load_corpus", "method_section", "parse_arxiv_atom"]

_KEYWORDS = re.compile(r"convolution|attention|residual|architecture|block|layer|kernel", re.I)


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    abstract: str
    text: str = ""


# a section heading: Markdown (``## 2 Related work``) or a numbered plain-text line
# (``2 Related Work``, ``3.1. Ghost module``)
_SECTION = (
    r"(?:^#+\s|^\s*\d+(?:\.\d+)*\.?\s+[A-Z][^\n]{0,80}$"
    r"|^\s*(?:Introduction|Keywords|Index Terms)\b)"
)


def _md_paper(path: Path) -> Paper:
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    title = lines[0].lstrip("# ").strip() if lines else path.stem
    # "Abstract" on its own line (or as a heading), or inline "Abstract: ..." / "Abstract. ..."
    m = re.search(
        rf"(?im)^#*\s*abstract\s*[:.\u2014-]?\s*$\n(.*?)(?={_SECTION}|\Z)", text, re.S | re.M
    ) or re.search(
        rf"(?im)^\s*abstract\s*[:.\u2014-]\s*(\S.*?)(?={_SECTION}|\n\s*\n|\Z)", text, re.S | re.M
    )
    abstract = " ".join(m.group(1).split()) if m else " ".join(lines[1:4])
    return Paper(path.stem, title, abstract, text)


def _json_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``.jsonl`` file, or of a ``.json`` file holding a list, one object, or one
    object per line (the arXiv metadata dump ``arxiv-metadata-oai-snapshot.json``)."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            if "Extra data" not in e.msg:
                raise ValueError(f"corpus file {path} is not JSON: {e}") from e
        else:
            return list(data) if isinstance(data, list) else [data]
    rows = []
    for i, line in enumerate(raw.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"corpus file {path}, line {i} is not JSON: {e}") from e
    return rows


def load_corpus(path: str | Path) -> list[Paper]:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"corpus {p} does not exist")
    files = sorted(p.rglob("*")) if p.is_dir() else [p]
    papers: list[Paper] = []
    for f in files:
        if f.suffix in (".txt", ".md"):
            papers.append(_md_paper(f))
        elif f.suffix in (".jsonl", ".json"):
            for i, r in enumerate(_json_rows(f)):
                papers.append(Paper(str(r.get("id") or r.get("paper_id") or f"{f.stem}-{i}"),
                                    " ".join(str(r.get("title", "")).split()),
                                    " ".join(str(r.get("abstract", "")).split()),
                                    str(r.get("text", ""))))  # fmt: skip
    return papers


def method_section(text: str, limit: int = 6000) -> str:
    """The method section (a heading naming method/approach/architecture/proposed up to the
    next heading); the whole text when there is none."""
    m = re.search(
        r"(?im)^#*\s*\d*(?:\.\d+)*\.?\s*(?:our\s+|the\s+)?(method|methods|methodology|approach|"
        rf"architecture|proposed[^\n]*)\s*$\n(.*?)(?={_SECTION}|\Z)",
        text,
        re.S | re.M,
    )
    return (m.group(2) if m else text).strip()[:limit]


class Reader:
    def __init__(self, llm: Any = None, max_per_paper: int = 5) -> None:
        self.llm = llm
        self.max_per_paper = max_per_paper

    def relevant(self, paper: Paper) -> bool:
        if self.llm is None:
            return bool(_KEYWORDS.search(paper.title + " " + paper.abstract))
        t = load_prompt("reader_filter")
        try:
            reply = self.llm.chat(t.render(title=paper.title, abstract=paper.abstract[:3000]),
                                  agent="reader", prompt_id=t.ref)  # fmt: skip
            return parse_yes_no(reply.text)
        except BudgetExceeded:
            raise
        except (LLMError, PromptParseError):
            return False

    def extract(self, paper: Paper) -> list[str]:
        method = method_section(paper.text or paper.abstract)
        if self.llm is None:
            sents = re.split(r"(?<=[.!?])\s+", method)
            return [s.strip() for s in sents if _KEYWORDS.search(s)][: self.max_per_paper]
        t = load_prompt("reader_extract")
        try:
            reply = self.llm.chat(t.render(title=paper.title, method=method), agent="reader",
                                  prompt_id=t.ref)  # fmt: skip
            return parse_list(reply.text, min_items=0)[: self.max_per_paper]
        except BudgetExceeded:
            raise
        except (LLMError, PromptParseError):
            return []

    def build_pool(self, papers: list[Paper]) -> KnowledgePool:
        items: list[Inspiration] = []
        source = "llm" if self.llm is not None else "rule-based"
        for paper in papers:
            if not self.relevant(paper):
                continue
            for text in self.extract(paper):
                items.append(Inspiration(str(len(items) + 1), text, paper.id, f"reader:{source}"))
        return KnowledgePool(items)


_ATOM = {"a": "http://www.w3.org/2005/Atom"}


def parse_arxiv_atom(xml_text: str) -> list[Paper]:
    """Papers of an arXiv API (Atom) response."""
    root = ET.fromstring(xml_text)
    out = []
    for e in root.findall("a:entry", _ATOM):

        def get(tag: str, e: ET.Element = e) -> str:
            node = e.find(f"a:{tag}", _ATOM)
            return " ".join((node.text or "").split()) if node is not None else ""

        out.append(Paper(get("id").rsplit("/", 1)[-1], get("title"), get("summary")))
    return out


def fetch_arxiv(query: str, max_results: int = 50, timeout_s: float = 30.0) -> list[Paper]:
    """Recent papers from the arXiv API (needs internet), newest first."""
    q = urllib.parse.urlencode({"search_query": query, "max_results": max_results,
                                "sortBy": "submittedDate", "sortOrder": "descending"})  # fmt: skip
    url = f"http://export.arxiv.org/api/query?{q}"
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return parse_arxiv_atom(resp.read().decode("utf-8"))
