"""Which config keys ``archlab resume RUN key=value`` may change.

A run that never proposed a candidate has nothing stored to keep valid: every key may
change (the typical case: a run that could not start because of a wrong path). Once
candidates exist, a key may change only if the stored results stay valid and comparable:

* allowed: ``budget.*``, ``executor.*`` (where and how tasks run), ``llm.*`` (endpoint,
  caps), ``experiment.description``, paths of the same data (``space.table``,
  ``strategy.lapt.source_table``, ``train.data_dir``) and how a candidate runs on its
  machine (``train.device``, ``train.threads``, ``train.checkpoint_dir``, ...);
* refused, with the reason :func:`refusal` gives: what is hashed into every stored
  candidate id (the training recipe, the dataset, the seed), what defines the stored
  candidates (``space.*``) or the strategy state replayed from them (``strategy.*``), and
  where results live (``store.*``, ``experiment.name``/``run_root``).

>>> refusal("budget.candidates", has_candidates=True) is None
True
>>> refusal("train.epochs", has_candidates=True)[:22]
'part of every stored c'
"""

from __future__ import annotations

__all__ = ["ALLOWED_AFTER_START", "refusal"]

# keys (or "section." prefixes) a run with stored candidates may still change
ALLOWED_AFTER_START: tuple[str, ...] = (
    "budget.",
    "executor.",
    "llm.",
    "experiment.description",
    "space.table",
    "strategy.lapt.source_table",
    "train.data_dir",
    "train.device",
    "train.threads",
    "train.compile",
    "train.channels_last",
    "train.checkpoint_dir",
    "train.keep_checkpoints",
    "train.gpu_data",
    "train.eval_batch_size",
)

_REASONS: tuple[tuple[str, str], ...] = (
    ("experiment.seed", "every stored candidate's seed and id derive from it"),
    ("experiment.", "it names and places the run, which already exists"),
    ("store.", "the stored results live there"),
    ("space.", "it defines the search space the stored candidates come from"),
    ("strategy.", "the strategy's state is rebuilt from the stored results with it"),
    ("train.", "part of every stored candidate's id (the training recipe and dataset)"),
)


def _allowed(key: str) -> bool:
    return any(key == a or (a.endswith(".") and key.startswith(a)) for a in ALLOWED_AFTER_START)


def refusal(key: str, has_candidates: bool) -> str | None:
    """Why ``key`` may not change on resume (``None``: it may)."""
    if not has_candidates or _allowed(key):
        return None
    for prefix, why in _REASONS:
        if key == prefix or (prefix.endswith(".") and key.startswith(prefix)):
            return why
    return "it would change what the stored results mean"
