"""A deterministic *proxy* evaluator for tests and dry runs — it does not train.

``val_acc`` is a smooth function of the design's parameter count plus a hash-derived
jitter, so a NADER loop can be exercised end to end in milliseconds. Records say
``evaluator="proxy:not-trained"``; never report its numbers as accuracies.
"""

from __future__ import annotations

import math
import time

from nas.records import Candidate, TrialCost, TrialRecord, TrialState

__all__ = ["ProxyEvaluator"]


class ProxyEvaluator:
    name = "proxy:not-trained"

    def __call__(self, cand: Candidate) -> TrialRecord:
        t0 = time.time()
        try:
            from nas.graph.cost import cost
            from nas.graph.spec import spec_from_blocks
            from nas.graph.text import parse_blocks

            sk = dict(cand.recipe.get("skeleton", {}))
            spec = spec_from_blocks(
                parse_blocks(cand.arch),
                kind=sk.get("kind", "stages"),
                width=int(sk.get("width", 16)),
                widths=tuple(sk.get("widths", ())),
                depths=tuple(sk.get("depths", ())),
            )
            c = cost(spec)
            jitter = (int(cand.arch_hash[:6], 16) % 1000) / 1000.0
            acc = 0.55 + 0.25 * math.tanh(math.log10(max(c.params, 10)) / 6) + 0.08 * jitter
            return TrialRecord(cand.id, TrialState.COMPLETE, {"val_acc": min(acc, 0.99)},
                               cost=TrialCost(params=c.params, flops=c.flops, macs=c.macs),
                               evaluator=self.name, started_at=t0,
                               finished_at=time.time())  # fmt: skip
        except Exception as e:  # a failure is a record
            return TrialRecord(cand.id, TrialState.FAILED, error=repr(e), evaluator=self.name,
                               started_at=t0, finished_at=time.time())  # fmt: skip
