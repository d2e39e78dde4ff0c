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

import contextlib
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
from nas.prompts.parsers import yes_no_constraint

__all__ = [
    "BuildReport",
    "Paper",
    "Reader",
    "build_knowledge",
    "fetch_arxiv",
    "load_corpus",
    "method_section",
    "parse_arxiv_atom",
]

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
                                  agent="reader", prompt_id=t.ref,
                                  constraint=yes_no_constraint())  # fmt: skip
        except BudgetExceeded:
            raise
        except LLMError:
            return False
        try:
            return parse_yes_no(reply.text)
        except PromptParseError as e:
            self.llm.mark_fallback(reply.call_id, f"paper skipped ({e.reason} answer)")
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
        except BudgetExceeded:
            raise
        except LLMError:
            return []
        try:
            return parse_list(reply.text, min_items=0)[: self.max_per_paper]
        except PromptParseError as e:
            self.llm.mark_fallback(reply.call_id, f"no inspiration kept ({e.reason} answer)")
            return []

    def build_pool(self, papers: list[Paper]) -> KnowledgePool:
        items: list[Inspiration] = []
        source = "llm" if self.llm is not None else "rule-based"
        for paper in papers:
            # one accounting scope per paper (as build_knowledge): a skipped paper's fallback
            # lands on its call's llm_calls row (step ``reader:ID``), not only in a log line
            llm = self.llm
            scope = llm.scope(f"reader:{paper.id}") if llm is not None else contextlib.nullcontext()
            with scope:
                texts = self.extract(paper) if self.relevant(paper) else []
            for text in texts:
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


@dataclass
class BuildReport:
    """What :func:`build_knowledge` read and made (printed by ``archlab knowledge build``)."""

    reader: str  # "llm" or "rule-based (no endpoint: keyword filter, sentence extraction)"
    papers: int = 0
    relevant: int = 0
    extracted: int = 0
    imported: int = 0  # inspirations taken as they are from pool files (NADER's format)
    duplicates: int = 0  # repeated texts dropped
    sources: list[str] | None = None

    def summary(self) -> str:
        return (
            f"{self.extracted + self.imported - self.duplicates} inspirations: "
            f"{self.extracted} extracted from {self.relevant} relevant of {self.papers} papers "
            f"by the {self.reader} reader, {self.imported} imported from pool files, "
            f"{self.duplicates} repeats dropped"
        )


def _is_pool_file(path: Path) -> bool:
    """NADER's ``inspirations_*.json``/``proposals_*.json``, or a pool JSONL of ours: rows
    with an ``inspiration``/``proposal`` field, or ``text`` without ``title``/``abstract``."""
    if path.suffix not in (".json", ".jsonl"):
        return False
    try:
        rows = _json_rows(path)
    except ValueError:
        return False
    first = rows[0] if rows and isinstance(rows[0], dict) else {}
    return bool(
        "inspiration" in first
        or "proposal" in first
        or ("text" in first and "title" not in first and "abstract" not in first)
    )


def build_knowledge(
    sources: list[str | Path], llm: Any = None, max_per_paper: int = 5
) -> tuple[KnowledgePool, BuildReport]:
    """One knowledge pool from ``sources``: corpus files or folders (JSONL/JSON papers, arXiv
    metadata dumps, Markdown/text papers, arXiv API ``.xml`` responses) go through the
    Reader (LLM filter and extraction when ``llm`` is given, else keywords); pool files
    (NADER's published ``inspirations_*.json``, a pool JSONL) are imported as they are.
    Ids are kept when unique, else prefixed with the file name; repeated texts are dropped."""
    reader = Reader(llm, max_per_paper)
    report = BuildReport(
        "llm"
        if llm is not None
        else "rule-based (no endpoint: keyword filter, sentence extraction)",
        sources=[str(s) for s in sources],
    )
    items: list[Inspiration] = []
    for src in sources:
        p = Path(src)
        if not p.exists():
            raise FileNotFoundError(f"knowledge source {p} does not exist")
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            if _is_pool_file(f):
                got = KnowledgePool.load(f).items
                report.imported += len(got)
                items.extend(got)
                continue
            if f.suffix == ".xml":
                papers = parse_arxiv_atom(f.read_text(encoding="utf-8"))
            elif f.suffix in (".txt", ".md", ".json", ".jsonl"):
                papers = load_corpus(f)
            else:
                continue
            report.papers += len(papers)
            for paper in papers:
                # the LLM rows of one paper name it as their step (and any fallback)
                scope = (
                    llm.scope(f"reader:{paper.id}") if llm is not None else contextlib.nullcontext()
                )
                with scope:
                    texts = reader.extract(paper) if reader.relevant(paper) else None
                if texts is None:
                    continue
                report.relevant += 1
                for text in texts:
                    report.extracted += 1
                    items.append(Inspiration(f"{f.stem}-{report.extracted}", text, paper.id,
                                             f"reader:{'llm' if llm else 'rule-based'}"))  # fmt: skip
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    out: list[Inspiration] = []
    for it in items:
        norm = " ".join(it.text.lower().split())
        if norm in seen_texts:
            report.duplicates += 1
            continue
        seen_texts.add(norm)
        iid = it.id if it.id not in seen_ids else f"{Path(it.source).stem}:{it.id}"
        n = 2
        while iid in seen_ids:
            iid, n = f"{it.id}~{n}", n + 1
        seen_ids.add(iid)
        out.append(Inspiration(iid, it.text, it.paper_id, it.source, it.transform))
    return KnowledgePool(out), report
