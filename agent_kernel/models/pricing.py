"""What a model call costs, where the price is known: a small table plus `Agent.prices`.

Prices are US dollars per million tokens (input, output), as providers publish them. A model
that is not in the table has no cost estimate rather than a wrong one.
"""

from __future__ import annotations

from collections.abc import Mapping

# (input, output) USD per 1M tokens; matched by the longest prefix of the model name.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
}


def price_for(
    model: str, custom: Mapping[str, tuple[float, float] | list[float]] | None = None
) -> tuple[float, float] | None:
    """(input, output) price per million tokens for `model`, or None if unknown."""
    table: dict[str, tuple[float, float]] = dict(PRICES)
    for name, pair in (custom or {}).items():
        table[name] = (float(pair[0]), float(pair[1]))
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(name)]
    return table[max(prefixes, key=len)] if prefixes else None


def cost_usd(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    custom: Mapping[str, tuple[float, float] | list[float]] | None = None,
) -> float | None:
    price = price_for(model, custom)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
