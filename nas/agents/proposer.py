"""The Proposer: picks the next design to modify (the tree's DFS/BFS mix) and the
suggestion to apply (LLM ranking of sampled unused inspirations, informed by research
experience at several similarity levels).

Offline (no LLM) the suggestion is the first of a seeded random sample.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from nas.agents.knowledge import Inspiration, KnowledgePool
from nas.agents.tree import ModificationTree, TreeNode
from nas.llm.budget import BudgetExceeded
from nas.llm.client import LLMError
from nas.prompts import PromptParseError, load_prompt, parse_ranking
from nas.prompts.parsers import ranking_constraint

__all__ = ["Proposal", "Proposer"]


@dataclass(frozen=True)
class Proposal:
    node: TreeNode
    inspiration: Inspiration
    how: str  # "dfs" | "bfs"
    ranked_by: str  # "llm" | "random" | "random (rank failed: ...)"


class Proposer:
    def __init__(
        self,
        pool: KnowledgePool,
        rng: random.Random,
        llm: Any = None,
        reflector: Any = None,
        dfs_ratio: float = 0.5,
        sample_size: int = 6,
    ) -> None:
        if not 0.0 <= dfs_ratio <= 1.0:
            raise ValueError(f"dfs_ratio={dfs_ratio} must be in [0, 1]")
        self.pool = pool
        self.rng = rng
        self.llm = llm
        self.reflector = reflector
        self.dfs_ratio = dfs_ratio
        self.sample_size = sample_size

    def _experience_text(self, block_text: str, sample: list[Inspiration]) -> str:
        if self.reflector is None:
            return "(none yet)"
        parts = []
        for name, texts in self.reflector.research_levels(" ".join(i.text for i in sample)).items():
            if texts:
                parts.append(f"[{name}]\n" + "\n".join(f"- {t}" for t in texts))
        return "\n".join(parts) or "(none yet)"

    def propose(self, tree: ModificationTree) -> Proposal | None:
        """None when every inspiration has been tried on every expandable node."""
        for _ in range(8):
            node, how = tree.select(self.rng, self.dfs_ratio)
            sample = self.pool.sample(self.rng, self.sample_size, exclude=node.used)
            if sample:
                break
        else:
            return None
        chosen, ranked_by = sample[0], "random"
        if self.llm is not None and len(sample) > 1:
            t = load_prompt("proposer_rank")
            msgs = t.render(
                block=node.blocks_text.strip(),
                candidates="\n".join(f"{i + 1}. {s.text}" for i, s in enumerate(sample)),
                experiences=self._experience_text(node.blocks_text, sample),
                k=min(3, len(sample)),
            )
            try:
                reply = self.llm.chat(msgs, agent="proposer", prompt_id=t.ref,
                                      constraint=ranking_constraint(len(sample), min(3, len(sample))))  # fmt: skip
            except BudgetExceeded:
                raise
            except LLMError as e:
                ranked_by = f"random (rank call failed: {e.kind})"
                self.llm.mark_fallback(e.call_id, "random inspiration")
            else:
                try:
                    chosen = sample[parse_ranking(reply.text, len(sample))[0]]
                    ranked_by = "llm"
                except PromptParseError as e:
                    ranked_by = f"random (rank failed: {e.reason}: {str(e)[:100]})"
                    self.llm.mark_fallback(reply.call_id, f"random inspiration ({e.reason})")
        node.used.add(chosen.id)
        return Proposal(node, chosen, how, ranked_by)
