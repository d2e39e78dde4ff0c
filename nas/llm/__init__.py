"""LLM client: OpenAI-compatible chat/embeddings with accounting, budget and cassettes."""

from nas.llm.budget import BudgetExceeded, LLMBudget, Usage
from nas.llm.cassette import Cassette, CassetteMiss, request_key
from nas.llm.client import MODES, Attribution, ChatReply, LLMClient, LLMError
from nas.llm.prices import DEFAULT_PRICES, Price, cost_usd, price_for

__all__ = [
    "DEFAULT_PRICES",
    "MODES",
    "Attribution",
    "BudgetExceeded",
    "Cassette",
    "CassetteMiss",
    "ChatReply",
    "LLMBudget",
    "LLMClient",
    "LLMError",
    "Price",
    "Usage",
    "cost_usd",
    "price_for",
    "request_key",
]
