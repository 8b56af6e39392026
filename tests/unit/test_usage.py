"""``storage.usage``: figures stay unknown unless reported, and totals add what is known."""

from __future__ import annotations

import math

import pytest

from conductor_loop.storage.usage import Usage, total


def test_total_adds_known_figures_and_keeps_unknown_ones_unknown() -> None:
    runs = [
        Usage(input_tokens=10, output_tokens=5, cost_usd=0.25),
        None,
        Usage(input_tokens=1, cached_input_tokens=4),
        Usage(),
    ]
    assert total(runs) == Usage(
        input_tokens=11, output_tokens=5, cached_input_tokens=4, cost_usd=0.25
    )
    assert total([]) == Usage() and not total([None]).known


@pytest.mark.parametrize("value", [-1, 1.5, math.inf, math.nan, True, "12", None, [3]])
def test_implausible_token_counts_are_unknown(value: object) -> None:
    assert Usage.of(input_tokens=value).input_tokens is None


@pytest.mark.parametrize("value", [-0.01, math.inf, math.nan, False, "0.1"])
def test_implausible_costs_are_unknown(value: object) -> None:
    assert Usage.of(cost_usd=value).cost_usd is None


def test_whole_floats_count_as_tokens_and_costs_are_floats() -> None:
    usage = Usage.of(input_tokens=12.0, cost_usd=2)
    assert usage.input_tokens == 12 and isinstance(usage.input_tokens, int)
    assert usage.cost_usd == 2.0 and isinstance(usage.cost_usd, float)


def test_to_dict_lists_the_known_figures_in_a_fixed_order() -> None:
    usage = Usage(cost_usd=0.5, output_tokens=3)
    assert list(usage.to_dict().items()) == [("output_tokens", 3), ("cost_usd", 0.5)]
