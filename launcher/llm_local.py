"""The project's own local model for commands: ``scripts/llm-up.sh`` started on demand.

``archlab demo llm=local`` uses it: :func:`start_local_llm` runs the checkout's
``scripts/llm-up.sh`` (idempotent: seconds when the server is up or installed, ~6-12 min the
first time, when llama-cpp-python is built from source; its progress goes to stderr) and
returns the endpoint it printed. :data:`LOCAL_LLM_OVERRIDES` are the config settings a slow
CPU model needs (one call at a time, long timeouts, no HTTP retries: a timed-out request
keeps running on the single-slot server, so a retry would only queue behind it).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LOCAL_LLM_OVERRIDES",
    "LocalLLM",
    "LocalLLMError",
    "local_llm_overrides",
    "show_llm_progress",
    "start_local_llm",
]

LLM_UP = Path(__file__).resolve().parents[1] / "scripts" / "llm-up.sh"

# Config defaults for the local CPU model; the user's own overrides come after and win.
LOCAL_LLM_OVERRIDES = (
    "llm.timeout_s=600",
    "llm.max_tokens=512",
    "llm.context_tokens=8192",  # the window scripts/llm-up.sh serves (ARCHLAB_LLM_CTX)
    # repairs sampled hotter than first answers (llm.temperature defaults to 0.7: a repair at
    # 0.7 was sampled as before, and repeated the answer word for word in 5 of 7 invalid designs)
    "strategy.nader.repair_temperature=1.0",
    # a design's Modifier calls stop at this many tokens (a weak model otherwise spent 28
    # calls on one design): about the base call, one repair and the derive call
    "strategy.nader.max_tokens_per_design=12000",
    "llm.max_retries=0",
    "llm.max_concurrency=1",
    # edit answers and two repair turns: on this model (BENCHMARKS.md, issue 24) block
    # answers gave 67 % valid designs at 11.1K tokens per trained architecture and NAD real5
    # 2/5 executable; edits gave 93 % at 4.9K and 4/5 (the paper's block form stays the
    # default elsewhere: strategy.nader.answer=block)
    "strategy.nader.answer=edits",
    "strategy.nader.modifier_retries=2",
    # (the edit form is the default's, edits@2, chosen on the NAD bench's development tasks;
    # a NADER search with it: 14 designs, all valid, 4.6K tokens per trained architecture)
    "budget.candidates=4",
)


class LocalLLMError(RuntimeError):
    """The local model server could not be started; the message says why and what to do."""


@dataclass(frozen=True)
class LocalLLM:
    base_url: str  # http://127.0.0.1:PORT/v1
    model: str  # the alias the server answers to


def start_local_llm(script: Path = LLM_UP) -> LocalLLM:
    """Run ``scripts/llm-up.sh`` (stderr passes through) and read its KEY=VALUE lines."""
    if not script.is_file():
        raise LocalLLMError(
            f"{script} is missing: llm=local needs an archlab checkout (git clone + make setup); "
            "or point llm.base_url/llm.model at any OpenAI-compatible server"
        )
    proc = subprocess.run(
        ["bash", str(script)], stdout=subprocess.PIPE, stderr=None, text=True, check=False
    )
    env = dict(
        line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line and line[0] != " "
    )
    url, model = env.get("ARCHLAB_LLM_BASE_URL", ""), env.get("ARCHLAB_LLM_MODEL", "")
    if proc.returncode != 0 or not url or not model:
        raise LocalLLMError(
            f"{script} failed (exit {proc.returncode}); its messages are above. "
            "Run it by hand to see the whole log: bash scripts/llm-up.sh"
        )
    return LocalLLM(url, model)


def local_llm_overrides(llm: LocalLLM, user: list[str]) -> list[str]:
    """Config overrides that point the run at ``llm``, then the user's (which win)."""
    return [f"llm.base_url={llm.base_url}", f"llm.model={llm.model}", *LOCAL_LLM_OVERRIDES, *user]


def show_llm_progress() -> None:
    """Print one stderr line per LLM call start and end (the client logs them at INFO)."""
    log = logging.getLogger("nas.llm.client")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("  [%(asctime)s] %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
