"""Price table: dollars per million tokens by model, and the cost of one call.

Prices are list prices at the time of writing (USD per 1M tokens, input/output); a model
that is not in the table costs 0 (local vLLM/Ollama/llama.cpp servers), unless the user
passes their own table. Matching is by exact name first, then by longest known prefix
(``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``).

    >>> cost_usd("gpt-4o-mini", 1_000_000, 0)
    0.15
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULT_PRICES", "Price", "cost_usd", "price_for"]


@dataclass(frozen=True)
class Price:
    input_per_m: float  # USD per 1M prompt tokens
    output_per_m: float  # USD per 1M completion tokens


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-4": Price(30.00, 60.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    "text-embedding-3-small": Price(0.02, 0.0),
    "text-embedding-3-large": Price(0.13, 0.0),
}


def price_for(model: str, table: Mapping[str, Price] | None = None) -> Price:
    """The price of ``model`` (exact name, then longest prefix); ``Price(0, 0)`` if unknown."""
    prices = DEFAULT_PRICES if table is None else table
    if model in prices:
        return prices[model]
    best = ""
    for name in prices:
        if model.startswith(name) and len(name) > len(best):
            best = name
    return prices[best] if best else Price(0.0, 0.0)


def cost_usd(
    model: str, tokens_in: int, tokens_out: int, table: Mapping[str, Price] | None = None
) -> float:
    """Dollars of one call."""
    p = price_for(model, table)
    return round((tokens_in * p.input_per_m + tokens_out * p.output_per_m) / 1e6, 10)
