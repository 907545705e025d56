"""The cost model: fees, commissions with a minimum, spread and square-root impact."""

from __future__ import annotations

import math
from decimal import Decimal

from trading.costs import CostModel
from trading.domain import Liquidity, Side

TICK = Decimal("0.01")


def test_no_costs_means_the_reference_price_and_no_fee() -> None:
    costs = CostModel()
    assert costs.market_fill_price(Side.BUY, Decimal("101.37"), Decimal(5), 1e6, 0.02, TICK) == (
        Decimal("101.37")
    )
    assert costs.fee(Decimal(5), Decimal(100), Liquidity.TAKER).total == 0


def test_maker_and_taker_fees_are_basis_points_of_notional() -> None:
    costs = CostModel(taker_fee_bps=Decimal(10), maker_fee_bps=Decimal(2))
    assert costs.fee(Decimal(10), Decimal(100), Liquidity.TAKER).total == Decimal("1.0")
    assert costs.fee(Decimal(10), Decimal(100), Liquidity.MAKER).total == Decimal("0.2")


def test_minimum_commission_is_charged_once_per_order() -> None:
    costs = CostModel(commission_per_share=Decimal("0.01"), min_commission=Decimal(5))
    first = costs.fee(Decimal(100), Decimal(50), Liquidity.TAKER)
    assert first.commission == Decimal(5)  # 100 * 0.01 = 1, topped up to the minimum
    second = costs.fee(Decimal(300), Decimal(50), Liquidity.TAKER, first.raw_commission)
    assert second.commission == 0  # 1 + 3 = 4 is still under the 5 already charged
    third = costs.fee(Decimal(300), Decimal(50), Liquidity.TAKER, second.raw_commission)
    assert third.commission == Decimal(2)  # 7 in all: 5 charged before, 2 now


def test_half_spread_moves_the_price_against_the_taker_and_rounds_against_it() -> None:
    costs = CostModel(half_spread_bps=Decimal(5))
    buy = costs.market_fill_price(Side.BUY, Decimal(100), Decimal(1), 0.0, 0.0, TICK)
    sell = costs.market_fill_price(Side.SELL, Decimal(100), Decimal(1), 0.0, 0.0, TICK)
    assert buy == Decimal("100.05")
    assert sell == Decimal("99.95")
    odd = costs.market_fill_price(Side.BUY, Decimal("100.01"), Decimal(1), 0.0, 0.0, TICK)
    assert odd == Decimal("100.07")  # 100.060005 rounds up, never in the taker's favour


def test_square_root_impact_grows_with_participation() -> None:
    costs = CostModel(impact_coefficient=Decimal(1))
    # k=1, daily volatility 2%, 10_000 of 1_000_000 average volume: 0.02 * sqrt(0.01) = 0.2%.
    price = costs.market_fill_price(Side.BUY, Decimal(100), Decimal(10_000), 1e6, 0.02, TICK)
    assert price == Decimal("100.20")
    bigger = costs.market_fill_price(Side.BUY, Decimal(100), Decimal(40_000), 1e6, 0.02, TICK)
    assert bigger == Decimal(100) * Decimal(1 + 0.02 * math.sqrt(0.04)).quantize(Decimal("0.0001"))


def test_participation_cap_is_a_share_of_average_volume_and_off_without_volume() -> None:
    costs = CostModel(participation_cap=Decimal("0.05"))
    assert costs.max_quantity_for_volume(2000.0) == Decimal(100)
    assert costs.max_quantity_for_volume(0.0) is None
