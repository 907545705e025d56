"""What an arena runs: the window, the market, the costs every entrant pays, the statistics, and
the entrants, loaded from YAML into closed pydantic models.

    name: spring
    symbols: [SPX, IXIC]         # source: kraken takes pairs: [BTC/USD, ETH/USD]
    source: bundled              # or kraken (closed candles of `timeframe`, cached locally)
    start: 2014-01-01
    end: 2018-12-31
    costs: {taker_fee_bps: 1, half_spread_bps: 1}
    benchmark: buy_and_hold      # an entrant; Sharpe differences are measured against it
    repeats: 3                   # runs (seeds) of each stochastic LLM entrant
    entrants:
      - quant: buy_and_hold
      - quant: sma_cross
        name: sma-fast
        params: {fast: 5, slow: 20}
      - agent: {name: analyst, role: market_analyst, model: fast, temperature: 0.7}
      - team: {name: desk, mode: debate, members: [...]}   # as in a team file

A mistake is one line naming the file, the entrant and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, ValidationError, model_validator

from agents.specs import AgentSpec, Name
from orchestration.team.config import TeamConfig
from trading.closed import Closed
from trading.config_files import entry_field, problem, read_yaml, validate_mapping
from trading.costs import CostModel
from trading.data.universe import UNIVERSES
from trading.errors import ConfigError
from trading.replay import ReplayConfig
from trading.risk import RiskLimits
from trading.strategies import PORTFOLIO_STRATEGIES, STRATEGIES, all_kinds, validate_params

EntrantKind = Literal["quant", "agent", "team"]
Source = Literal["bundled", "kraken"]


class Entrant(Closed):
    """Exactly one of `quant` (a strategy), `agent` (an inline LLM agent spec) or `team`."""

    name: Name | None = Field(None, description="Leaderboard name; default the kind's name.")
    quant: str | None = Field(None, description="A quant strategy: " + ", ".join(all_kinds()))
    params: dict[str, Any] = Field(default_factory=dict, description="Quant parameters.")
    agent: AgentSpec | None = Field(None, description="An LLM agent spec, as a spec file has.")
    team: TeamConfig | None = Field(None, description="A team, as a team file has.")
    repeats: int | None = Field(
        None, ge=1, le=50, description="Runs of this entrant if stochastic; default the arena's."
    )
    anonymised: bool = Field(
        False,
        description="Show this LLM entrant the anonymised universe (agents.anonymise); the "
        "arena's anonymise: true adds such a twin of every LLM entrant itself.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [k for k in ("quant", "agent", "team") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of quant, agent or team; got {given or 'none'}")
        if self.quant is None and self.params:
            raise ValueError("params are for quant entrants only")
        if self.quant is not None:
            try:
                validate_params(self.quant, self.params)
            except ConfigError as error:
                raise ValueError(str(error)) from None
        return self

    @property
    def kind(self) -> EntrantKind:
        if self.quant is not None:
            return "quant"
        return "agent" if self.agent is not None else "team"

    @property
    def entrant_name(self) -> str:
        if self.name is not None:
            return self.name
        if self.agent is not None:
            return self.agent.name
        if self.team is not None:
            return self.team.name
        return str(self.quant)


class BootstrapSettings(Closed):
    samples: int = Field(2000, ge=100, le=100_000, description="Resamples per interval.")
    block_length: int | None = Field(
        None, ge=1, le=1000, description="Mean block length in bars; default ceil(n^(1/3))."
    )
    method: Literal["stationary", "circular"] = Field(
        "stationary", description="Random block lengths (stationary) or fixed (circular)."
    )
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Two-sided coverage.")


class LlmBudget(Closed):
    max_usd: Decimal | None = Field(None, gt=0, description="Dollars all LLM entrants may spend.")
    max_tokens: int | None = Field(None, gt=0, description="Tokens all LLM entrants may spend.")


# What a Kraken arena trades when it names no symbols.
DEFAULT_KRAKEN_SYMBOLS = ("BTC/USD", "ETH/USD")
DEFAULT_KRAKEN_TIMEFRAME = "1d"

# The default competition: five years of both bundled indices, long enough for the baselines'
# lookbacks to matter and short enough to finish in seconds on two cores.
DEFAULT_START = date(2014, 1, 1)
DEFAULT_END = date(2018, 12, 31)


class ArenaConfig(Closed):
    name: Name = "default"
    source: Source = Field(
        "bundled",
        description="bundled: the bundled data and --data files; kraken: Kraken's closed OHLCV "
        "candles through its public API, cached under $TRADEPIT_HOME/cache.",
    )
    timeframe: str | None = Field(
        None, description="Kraken candle length (1m ... 1d); default 1d. Kraken only."
    )
    symbols: list[str] = Field(default_factory=lambda: ["SPX", "IXIC"], min_length=1)
    start: date = DEFAULT_START
    end: date = DEFAULT_END
    cash: Decimal = Field(Decimal(100_000), gt=0, description="Starting cash of every entrant.")
    costs: CostModel = Field(
        default_factory=lambda: CostModel(
            taker_fee_bps=Decimal(1), maker_fee_bps=Decimal(1), half_spread_bps=Decimal(1)
        ),
        description="Fees and slippage, the same for every entrant.",
    )
    limits: RiskLimits = Field(
        default_factory=RiskLimits,
        description="Risk limits, the same for every entrant; past max_drawdown the kill switch "
        "sells everything and holds cash for the rest of the run.",
    )
    rebalance_threshold: Decimal = Field(Decimal("0.02"), ge=0, le=1)
    benchmark: Name | None = Field(
        "buy_and_hold", description="The entrant Sharpe differences are measured against."
    )
    repeats: int = Field(3, ge=1, le=50, description="Runs (seeds) of each stochastic entrant.")
    seed: int = Field(0, ge=0, description="The arena's seed: repeat seeds and resamples.")
    bootstrap: BootstrapSettings = Field(default_factory=BootstrapSettings)
    budget: LlmBudget = Field(default_factory=LlmBudget)
    workers: int = Field(
        0, ge=0, le=64, description="Processes for quant entrants; 0 runs them in this one."
    )
    entrants: list[Entrant] = Field(min_length=1, max_length=64)
    anonymise: bool = Field(
        False,
        description="Run every LLM entrant twice, as given and shown the universe anonymised "
        "(symbols ASSET_01..., prices rebased to 100 at the start, dates as day offsets), "
        "and set the two side by side: how much of an edge is recall. The ledger trades the "
        "real series either way.",
    )

    @model_validator(mode="before")
    @classmethod
    def _kraken_defaults(cls, raw: Any) -> Any:
        """A Kraken arena's own defaults. Its window has none: the bundled one (2014-2018)
        means nothing on Kraken, and "the newest candles" depends on the day it is asked,
        which the command line knows (`market.kraken_window`) and a stored config must not."""
        if not isinstance(raw, Mapping) or raw.get("source") != "kraken":
            return raw
        missing = [f for f in ("start", "end") if raw.get(f) is None]
        if missing:
            raise ValueError(
                f"a Kraken arena names its window; give {' and '.join(missing)} "
                "(the command line defaults to the newest candles Kraken's OHLC serves)"
            )
        filled = dict(raw)
        filled.setdefault("symbols", list(DEFAULT_KRAKEN_SYMBOLS))
        if filled.get("costs") is None:
            # Kraken's own first-tier fees, not the bundled indices' 1 bp: a crypto arena that
            # paid index-fund costs would flatter every entrant that trades. Candles carry no
            # book to walk, so the spread stays a modelled half-spread.
            from trading.kraken.paper_live import KRAKEN_MAKER_FEE_BPS, KRAKEN_TAKER_FEE_BPS

            filled["costs"] = {
                "taker_fee_bps": KRAKEN_TAKER_FEE_BPS,
                "maker_fee_bps": KRAKEN_MAKER_FEE_BPS,
                "half_spread_bps": Decimal(1),
            }
        if filled.get("timeframe") is None:
            filled["timeframe"] = DEFAULT_KRAKEN_TIMEFRAME
        return filled

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.source == "kraken":
            # Imported here: trading.kraken loads ccxt, which a bundled arena never needs.
            from trading.kraken.market_data import TIMEFRAMES

            if self.timeframe not in TIMEFRAMES:
                raise ValueError(
                    f"timeframe {self.timeframe!r} is not a Kraken candle length; use one of "
                    f"{', '.join(TIMEFRAMES)}"
                )
        elif self.timeframe is not None:
            raise ValueError(
                f"timeframe {self.timeframe!r} is for source: kraken; the bundled data and "
                "--data files bring their own bar length"
            )
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        names = [e.entrant_name for e in self.entrants]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"entrant names must be unique; repeated: {twice!r}; set name:")
        for entrant in self.entrants:
            if self.anonymise or entrant.anonymised:
                anonymisable(entrant)
        if self.benchmark is not None and self.benchmark not in names:
            raise ValueError(
                f"benchmark {self.benchmark!r} is not an entrant; add it to entrants or set "
                "benchmark: null"
            )
        return self

    def replay_config(self) -> ReplayConfig:
        """The one replay configuration every entrant trades under."""
        return ReplayConfig(
            symbols=tuple(s.upper() for s in self.symbols),
            start=self.start,
            end=self.end,
            cash=self.cash,
            costs=self.costs,
            limits=self.limits,
            rebalance_threshold=self.rebalance_threshold,
        )

    def entrant(self, name: str) -> Entrant:
        for entrant in self.entrants:
            if entrant.entrant_name == name:
                return entrant
        raise ConfigError(f"arena {self.name!r} has no entrant {name!r}")


ANONYMISED_SUFFIX = "-anonymised"


def anonymised_twin(entrant: Entrant) -> Entrant:
    """The entrant shown the anonymised universe, under its own leaderboard name."""
    name = entrant.entrant_name + ANONYMISED_SUFFIX
    return entrant.model_copy(update={"name": name, "anonymised": True})


def anonymisable(entrant: Entrant) -> None:
    """An anonymised LLM agent sees the universe as one table (a portfolio turn), and holds
    no tools: they read the real series under real names and dates. Its plain twin must
    judge the same way for the comparison to measure recall and nothing else."""
    specs = [entrant.agent] if entrant.agent is not None else []
    if entrant.team is not None:
        specs += [m.spec for m in entrant.team.all_members() if m.spec is not None]
    for spec in specs:
        if spec.tools or not spec.portfolio:
            raise ValueError(
                f"anonymise: agent {spec.name!r} needs portfolio: true and tools: [] (it is "
                "shown the anonymised universe as one table; tools read the real series)"
            )


def default_entrants() -> list[dict[str, Any]]:
    """The quant baselines, one LLM agent and one LLM team (bull, bear and a quant member in a
    debate). The LLM entrants use the `fast` alias and fall back to a `local` server; they
    decide monthly (every 21 bars) to keep calls, time and cost modest."""
    llm = {"model": "fast", "fallback_model": "local", "temperature": 0.7, "decide_every": 21}
    tools = ["get_market_summary", "compute_indicator"]
    return [
        *({"quant": kind} for kind in STRATEGIES),
        {"agent": {"name": "llm-analyst", "role": "market_analyst", "tools": tools, **llm}},
        {
            "team": {
                "name": "llm-desk",
                "mode": "debate",
                "rounds": 1,
                "decide_every": 21,
                "members": [
                    {"spec": {"name": "bull", "role": "bull", "tools": tools, **llm}},
                    {"spec": {"name": "bear", "role": "bear", "tools": tools, **llm}},
                    {"quant": "sma_cross", "confidence": 0.5},
                ],
            }
        },
    ]


# `tradepit arena --universe sp20`: five years of the bundled stock universe, before the
# pandemic years a model is likeliest to remember.
UNIVERSE_START = date(2015, 1, 1)
UNIVERSE_END = date(2019, 12, 31)


def universe_config(name: str) -> dict[str, Any]:
    """The ready competition on a bundled universe: the cross-sectional baselines (equal
    weight the benchmark), buy and hold, and the same LLM agent and team as the default arena,
    all over every symbol of the universe at once."""
    if name not in UNIVERSES:
        raise ConfigError(f"unknown universe {name!r}; available: {', '.join(UNIVERSES)}")
    llm_entrants = [e for e in default_entrants() if "quant" not in e]
    return {
        "name": name,
        "symbols": list(UNIVERSES[name]),
        "start": UNIVERSE_START.isoformat(),
        "end": UNIVERSE_END.isoformat(),
        "benchmark": "equal_weight",
        "entrants": [
            *({"quant": kind} for kind in PORTFOLIO_STRATEGIES),
            {"quant": "buy_and_hold"},
            *llm_entrants,
        ],
    }


def default_config() -> ArenaConfig:
    return ArenaConfig.model_validate({"entrants": default_entrants()})


def parse_config(raw: Any, source: str) -> ArenaConfig:
    """An arena config from parsed YAML or stored JSON; errors name `source`, the entrant and
    the field."""
    return validate_mapping(
        ArenaConfig,
        raw,
        source,
        not_mapping=lambda _: "an arena config is a mapping with entrants",
        explain=lambda error: explain(error, raw),
    )


def load_config(path: Path) -> ArenaConfig:
    return parse_config(read_config(path), str(path))


def read_config(path: Path) -> Any:
    """The YAML of an arena config, not yet checked: the command line merges its options into
    it first, so that an option may complete what the file leaves out (a Kraken window)."""
    return read_yaml(path, "the arena config")


def explain(error: ValidationError, raw: Mapping[str, Any]) -> str:
    """Pydantic's errors with entrant positions turned into entrant names."""
    problems = []
    for item in error.errors():
        where = entry_field(
            item["loc"], raw, key="entrants", noun="entrant", names=_names, whole="arena"
        )
        said = problem(item)
        unknown = item["type"] == "extra_forbidden"
        if not unknown and "input" in item and not isinstance(item["input"], Mapping | list):
            said += f" (got {item['input']!r})"
        problems.append(f"{where}: {said}")
    return "; ".join(problems)


def _names(entry: dict[str, Any]) -> tuple[object, ...]:
    """What may name an entrant, first choice first."""
    nested = [entry.get(k) for k in ("agent", "team")]
    return (
        entry.get("name"),
        *(n.get("name") for n in nested if isinstance(n, dict)),
        entry.get("quant"),
    )
