"""Per-agent ``pricing``: validated with errors naming the key, and the cost it gives."""

from __future__ import annotations

import pytest

from conductor_loop.config import parse_config
from conductor_loop.config.models import Pricing
from conductor_loop.errors import ConfigError

PRICED = """\
agents:
  x:
    type: xai
    pricing: {input_per_mtok: 3, output_per_mtok: 15, cached_input_per_mtok: 0.3}
"""


def test_pricing_is_read_from_the_agent_config() -> None:
    pricing = parse_config(PRICED).agents["x"].pricing
    assert pricing == Pricing(input_per_mtok=3, output_per_mtok=15, cached_input_per_mtok=0.3)


def test_an_agent_without_pricing_has_none() -> None:
    assert parse_config("agents:\n  x:\n    type: xai\n").agents["x"].pricing is None


@pytest.mark.parametrize(
    ("pricing", "message"),
    [
        ("{input_per_mtok: 3}", r"agents\.x\.pricing\.output_per_mtok: Field required"),
        ("{input_per_mtok: -1, output_per_mtok: 1}", r"agents\.x\.pricing\.input_per_mtok: "),
        ("{input_per_mtok: 1, output_per_mtok: lots}", r"agents\.x\.pricing\.output_per_mtok: "),
        (
            "{input_per_mtok: 1, output_per_mtok: 1, cache: 1}",
            r"agents\.x\.pricing\.cache: unknown",
        ),
        ("3", r"agents\.x\.pricing: "),
    ],
)
def test_bad_pricing_is_an_error_naming_the_key(pricing: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(f"agents:\n  x:\n    type: xai\n    pricing: {pricing}\n")


def test_cost_prices_cached_input_at_its_own_rate() -> None:
    pricing = Pricing(input_per_mtok=3, output_per_mtok=15, cached_input_per_mtok=0.3)
    # 200 uncached input tokens at $3/M, 1000 cached at $0.30/M, 50 output at $15/M
    assert pricing.cost_usd(input_tokens=1200, output_tokens=50, cached_input_tokens=1000) == (
        pytest.approx(0.0006 + 0.0003 + 0.00075)
    )


def test_without_a_cached_rate_cached_input_costs_the_input_rate() -> None:
    pricing = Pricing(input_per_mtok=2, output_per_mtok=10)
    assert pricing.cost_usd(1_000_000, 100_000, 400_000) == pytest.approx(2 + 1)


def test_unknown_cached_count_prices_all_input_at_the_input_rate() -> None:
    pricing = Pricing(input_per_mtok=2, output_per_mtok=10, cached_input_per_mtok=1)
    assert pricing.cost_usd(1_000_000, 0, None) == pytest.approx(2)


@pytest.mark.parametrize(("input_tokens", "output_tokens"), [(None, 5), (5, None), (None, None)])
def test_no_cost_without_both_token_counts(
    input_tokens: int | None, output_tokens: int | None
) -> None:
    assert (
        Pricing(input_per_mtok=1, output_per_mtok=1).cost_usd(input_tokens, output_tokens) is None
    )


def test_more_cached_than_input_tokens_prices_no_negative_input() -> None:
    pricing = Pricing(input_per_mtok=1, output_per_mtok=0, cached_input_per_mtok=0.5)
    assert pricing.cost_usd(100, 0, 300) == pytest.approx(300 * 0.5 / 1e6)
