"""The run the crash test kills: a quant agent trading real S&P 500 history through the durable
loop, its events as JSON lines on standard output. The test starts it as a subprocess
(`python -c "from tests.orchestration.crash_run import main; main()" DATABASE_URL`) and builds
the same config and agent in-process to resume it."""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from decimal import Decimal

from agents.quant import QuantAgent, build_quant_agent
from orchestration.events import JsonLinesEmitter
from orchestration.loop import TradingLoop
from trading.costs import CostModel
from trading.data import Catalog
from trading.replay import ReplayConfig
from trading.risk import RiskLimits
from trading.storage import Store

RUN_ID = "crash-test"


def config() -> ReplayConfig:
    # 2006-2009: about a thousand daily cycles through the 2008 crash, so fees, spread,
    # stop-loss and take-profit all have something to do.
    return ReplayConfig(
        symbols=("SPX",),
        start=date(2006, 1, 1),
        end=date(2009, 12, 31),
        costs=CostModel(taker_fee_bps=Decimal(1), half_spread_bps=Decimal(1)),
        limits=RiskLimits(stop_loss=Decimal("0.04"), take_profit=Decimal("0.15")),
    )


def agent() -> QuantAgent:
    return build_quant_agent("sma_cross", {"fast": 10, "slow": 50})


def main() -> None:
    store = Store(sys.argv[1])
    loop = TradingLoop(agent(), Catalog.default(), store, events=JsonLinesEmitter(sys.stdout))
    asyncio.run(loop.start(config(), run_id=RUN_ID))
