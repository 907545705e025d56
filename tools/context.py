"""The context every tool reads through: point-in-time market data, the ledger, the executor,
the risk gate and the clock. Tools never reach a module-level global, so a test, a replay or an
MCP session swaps the whole world by passing another context."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal

from tools.news import NewsSource, SentimentModel, bundled_news
from trading.clock import Clock, ReplayClock
from trading.costs import CostModel
from trading.data import Catalog, PointInTimeView
from trading.data.factors import PointInTimeFactors, bundled_factors
from trading.data.series import from_ns
from trading.domain import Instrument
from trading.errors import ConfigError
from trading.ledger import Ledger
from trading.paper import PaperExecutor
from trading.risk import RiskGate, RiskLimits


class ToolContext:
    """Not a dataclass on purpose: tools validate their arguments with pydantic, which would
    try to validate a dataclass field by field; a plain class is checked by isinstance only."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        clock: Clock,
        view: PointInTimeView,
        ledger: Ledger,
        executor: PaperExecutor,
        gate: RiskGate,
        costs: CostModel,
        instruments: dict[str, Instrument] | None = None,
        benchmark: str = "SPX",
        session: str = "paper",
        news: NewsSource | None = None,
        sentiment: SentimentModel | None = None,
        factors: PointInTimeFactors | None = None,
    ) -> None:
        self.catalog = catalog
        self.clock = clock
        self.view = view
        self.ledger = ledger
        self.executor = executor
        self.gate = gate
        self.costs = costs
        self.instruments = instruments or {}
        self.benchmark = benchmark
        self.session = session
        self.news = news
        self.sentiment = sentiment
        self._factors = factors
        self._order_numbers = itertools.count(1)

    def news_source(self) -> NewsSource:
        """The configured news, or the headlines bundled for offline use."""
        if self.news is None:
            self.news = bundled_news()
        return self.news

    @property
    def factors(self) -> PointInTimeFactors:
        """The VIX and Fama-French factors as known at now (the bundled ones by default)."""
        if self._factors is None:
            self._factors = PointInTimeFactors(bundled_factors(), self.clock)
        return self._factors

    def sentiment_model(self) -> SentimentModel:
        if self.sentiment is None:
            self.sentiment = SentimentModel()
        return self.sentiment

    def instrument(self, symbol: str) -> Instrument:
        return self.instruments.get(symbol) or Instrument(symbol)

    def next_order_id(self) -> str:
        return f"{self.session}-{next(self._order_numbers)}"

    @property
    def now(self) -> datetime:
        return self.clock.now()

    @classmethod
    def paper(
        cls,
        catalog: Catalog | None = None,
        *,
        as_of: datetime | None = None,
        clock: Clock | None = None,
        cash: Decimal = Decimal(100_000),
        costs: CostModel | None = None,
        limits: RiskLimits | None = None,
        session: str = "paper",
    ) -> ToolContext:
        """A paper-trading session over history. Unless a clock is given, time stands at
        `as_of`, by default the close of the latest bar in the catalog, and moves only when
        the session advances it bar by bar."""
        catalog = catalog or Catalog.default()
        if clock is None:
            clock = ReplayClock(as_of or latest_close(catalog))
        elif as_of is not None:
            raise ConfigError("give a clock or an as-of time, not both")
        view = PointInTimeView(catalog, clock)
        ledger = Ledger(cash=cash)
        costs = costs or CostModel()
        gate = RiskGate(limits)
        executor = PaperExecutor(ledger, view, clock, costs, gate=gate)
        return cls(
            catalog=catalog,
            clock=clock,
            view=view,
            ledger=ledger,
            executor=executor,
            gate=gate,
            costs=costs,
            session=session,
        )


def latest_close(catalog: Catalog) -> datetime:
    """When the last bar of any symbol in the catalog closes."""
    return from_ns(max(int(catalog.load(s).close_times[-1]) for s in catalog.symbols()))
