"""The leaderboard: every entrant's performance, costs and statistics, ranked by Sharpe ratio.

A row aggregates an entrant's runs (one for deterministic entrants, `repeats` for stochastic
ones): figures are means over the runs, with the spread of total return and Sharpe where there
are several. Intervals come from one block-bootstrap index matrix shared by every entrant, so
"Sharpe minus the benchmark's" is a paired comparison on the same resampled days. LLM entrants
whose window starts before a model's training cut-off are flagged as possibly memorised.

The leaderboard is a closed pydantic model: it is stored with the run as JSON and read back
as it was for `tradepit arena show`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Self

import numpy as np
from pydantic import Field
from rich import box
from rich.console import Console
from rich.table import Table

from agents.mcp_sources import tools_caveat
from agents.turn_counts import TurnCounts
from orchestration.arena.config import ANONYMISED_SUFFIX, ArenaConfig, Entrant
from orchestration.arena.results import ArenaResult, EntrantRun, kill_point
from orchestration.cli.common import print_table
from trading.closed import Closed
from trading.stats import (
    Interval,
    Spread,
    auto_block_length,
    bootstrap_indices,
    sharpe_intervals,
    simple_returns,
    spread,
)

# Marks a killed entrant's name in the tables, as an x on the charts marks its kill point; "(!)"
# marks possible memorisation.
KILLED = "(x)"


class _FiguresView(Closed):
    """A statistic's figures as its `to_json` writes them."""

    @classmethod
    def of(cls, figures: Interval | Spread) -> Self:
        return cls.model_validate(figures.to_json())


class IntervalView(_FiguresView):
    estimate: float
    lower: float
    upper: float
    confidence: float
    excludes_zero: bool


class SpreadView(_FiguresView):
    mean: float
    std: float
    min: float
    max: float
    runs: int


class Row(Closed):
    rank: int
    entrant: str
    kind: str
    runs: int
    seeds: list[int | None]
    total_return: float = Field(description="Mean over runs, as every figure below.")
    annualized_return: float
    sharpe: float
    sortino: float
    max_drawdown: float
    calmar: float
    win_rate: float | None
    turnover: float
    trades: float = Field(description="Fills per run.")
    round_trips: float
    llm_calls: float
    llm_tokens: float
    llm_cost_usd: Decimal = Field(description="Priced LLM cost per run, cached calls included.")
    net_return: float = Field(description="Total return after paying the LLM cost.")
    # Per run, for LLM entrants (None for the others, and for runs stored before they were
    # counted): a model that never answers validly trades like a flat strategy.
    llm_valid_theses: float | None = Field(None, description="Valid theses per run.")
    llm_reasks: float | None = Field(None, description="Re-asks after a refused reply, per run.")
    llm_abstains: float | None = Field(None, description="Abstentions per run.")
    sharpe_interval: IntervalView
    sharpe_vs_benchmark: IntervalView | None
    total_return_spread: SpreadView | None
    sharpe_spread: SpreadView | None
    models: dict[str, str | None]
    memorisation: list[str]
    kill_switch: str | None
    tools_caveat: str | None = Field(
        None,
        description="Set when the entrant's agents call external MCP servers: their answers "
        "cannot be proven point-in-time, so neither can the entrant's figures.",
    )
    killed: str | None = Field(
        None,
        description="When the kill switch tripped and how far equity had fallen from its peak "
        "(each run's, for several); the entrant then sold everything and held cash.",
    )


class RecallView(Closed):
    """An LLM entrant beside its anonymised twin (`anonymise: true`): the same agent on the
    same series, once shown real names, prices and dates, once not. What it loses when
    anonymised is an edge that may be recall rather than judgement."""

    entrant: str
    anonymised: str
    total_return: float
    anonymised_total_return: float
    sharpe: float
    anonymised_sharpe: float
    sharpe_gap: float = Field(description="Sharpe as given less Sharpe anonymised.")


class SkippedView(Closed):
    entrant: str
    reason: str


class BootstrapView(Closed):
    method: str
    samples: int
    block_length: int
    confidence: float
    seed: int


class Leaderboard(Closed):
    run_id: str
    name: str
    symbols: list[str]
    start: str = Field(description="First bar of the window.")
    end: str = Field(description="Last bar of the window.")
    bars: int
    periods_per_year: float | None = Field(
        None,
        description="Bars per year the figures are annualised with, from the bar spacing: "
        "252 for exchange-calendar days, 365.25 for daily crypto, 2191.5 for 4h candles.",
    )
    benchmark: str | None
    bootstrap: BootstrapView
    rows: list[Row]
    skipped: list[SkippedView]
    recall: list[RecallView] = Field(
        default_factory=list,
        description="Each LLM entrant beside its anonymised twin, where the arena ran both.",
    )
    data_notes: list[str] = Field(
        default_factory=list,
        description="The data's caveats: a survivorship-biased universe, close-only fills.",
    )

    def row(self, entrant: str) -> Row:
        for row in self.rows:
            if row.entrant == entrant:
                return row
        raise KeyError(entrant)


def build_leaderboard(result: ArenaResult, data_notes: Sequence[str] = ()) -> Leaderboard:
    config = result.config
    by_entrant: dict[str, list[EntrantRun]] = {}
    for run in result.runs:
        by_entrant.setdefault(run.entrant, []).append(run)
    first = result.runs[0]
    periods = len(first.equity) - 1
    settings = config.bootstrap
    block = settings.block_length or auto_block_length(periods)
    indices = bootstrap_indices(
        periods,
        samples=settings.samples,
        seed=config.seed,
        block_length=block,
        method=settings.method,
    )
    ppy = first.metrics.periods_per_year
    benchmark = by_entrant.get(config.benchmark) if config.benchmark else None
    bench_returns = _returns(benchmark[0]) if benchmark else None
    entrants = {e.entrant_name: e for e in config.entrants}
    rows = []
    for name, runs in by_entrant.items():
        returns = np.vstack([_returns(r) for r in runs])
        own, versus = sharpe_intervals(
            returns,
            indices,
            periods_per_year=ppy,
            confidence=settings.confidence,
            benchmark=None if name == config.benchmark else bench_returns,
        )
        row = _row(config, name, runs, own, versus, result.models.get(name, {}))
        caveat = _tools_caveat(entrants[name]) if name in entrants else None
        rows.append(row.model_copy(update={"tools_caveat": caveat}))
    rows.sort(key=lambda row: row.sharpe, reverse=True)
    return Leaderboard(
        run_id=result.run_id,
        name=config.name,
        symbols=list(config.replay_config().symbols),
        start=first.equity[0][0].date().isoformat(),
        end=first.equity[-1][0].date().isoformat(),
        bars=len(first.equity),
        periods_per_year=ppy,
        benchmark=config.benchmark if benchmark else None,
        bootstrap=BootstrapView(
            method=settings.method,
            samples=settings.samples,
            block_length=block,
            confidence=settings.confidence,
            seed=config.seed,
        ),
        rows=[row.model_copy(update={"rank": i + 1}) for i, row in enumerate(rows)],
        skipped=[SkippedView(entrant=s.entrant, reason=s.reason) for s in result.skipped],
        recall=recall_pairs(rows),
        data_notes=list(data_notes),
    )


def recall_pairs(rows: Sequence[Row]) -> list[RecallView]:
    by_name = {row.entrant: row for row in rows}
    pairs = []
    for row in rows:
        twin = by_name.get(row.entrant + ANONYMISED_SUFFIX)
        if twin is None:
            continue
        pairs.append(
            RecallView(
                entrant=row.entrant,
                anonymised=twin.entrant,
                total_return=row.total_return,
                anonymised_total_return=twin.total_return,
                sharpe=row.sharpe,
                anonymised_sharpe=twin.sharpe,
                sharpe_gap=row.sharpe - twin.sharpe,
            )
        )
    return pairs


def memorisation_flags(config: ArenaConfig, models: Mapping[str, str | None]) -> list[str]:
    """Why an LLM entrant's result may come from memory rather than judgement: the window
    starts before a model's training cut-off, or the cut-off is not published."""
    flags = []
    for reference, cutoff in sorted(models.items()):
        if cutoff is None:
            flags.append(f"{reference} publishes no training cut-off: memorisation not ruled out")
        elif config.start.isoformat() < cutoff:
            flags.append(
                f"possibly memorised: the window starts {config.start}, before {reference}'s "
                f"training cut-off {cutoff}"
            )
    return flags


def _row(
    config: ArenaConfig,
    name: str,
    runs: Sequence[EntrantRun],
    own: Interval,
    versus: Interval | None,
    models: dict[str, str | None],
) -> Row:
    metrics = [r.metrics for r in runs]
    win_rates = [m.win_rate for m in metrics if m.win_rate is not None]
    costs = [r.llm.cost_usd for r in runs]
    cash = config.cash
    net = [float((r.final_equity - r.llm.cost_usd) / cash) - 1.0 for r in runs]
    several = len(runs) > 1
    kill = sorted({r.kill_switch for r in runs if r.kill_switch})
    counted = [r.llm.answers for r in runs]
    answers = [a for a in counted if a is not None]
    # Quant entrants and quant-only teams ask nothing; older stored runs did not count.
    asked = len(answers) == len(runs) and (
        runs[0].kind == "agent" or any(a != TurnCounts() for a in answers)
    )
    return Row(
        rank=0,
        entrant=name,
        kind=runs[0].kind,
        runs=len(runs),
        seeds=[r.seed for r in runs],
        total_return=_mean([m.total_return for m in metrics]),
        annualized_return=_mean([m.annualized_return for m in metrics]),
        sharpe=_mean([m.sharpe for m in metrics]),
        sortino=_mean([m.sortino for m in metrics]),
        max_drawdown=_mean([m.max_drawdown for m in metrics]),
        calmar=_mean([m.calmar for m in metrics]),
        win_rate=_mean(win_rates) if win_rates else None,
        turnover=_mean([m.turnover for m in metrics]),
        trades=_mean([len(r.fills) for r in runs]),
        round_trips=_mean([r.round_trips for r in runs]),
        llm_calls=_mean([r.llm.calls for r in runs]),
        llm_tokens=_mean([r.llm.tokens for r in runs]),
        llm_cost_usd=sum(costs, Decimal(0)) / len(costs),
        net_return=_mean(net),
        llm_valid_theses=_mean([a.valid_theses for a in answers]) if asked else None,
        llm_reasks=_mean([a.reasks for a in answers]) if asked else None,
        llm_abstains=_mean([a.abstains for a in answers]) if asked else None,
        sharpe_interval=IntervalView.of(own),
        sharpe_vs_benchmark=IntervalView.of(versus) if versus is not None else None,
        total_return_spread=(
            SpreadView.of(spread([m.total_return for m in metrics])) if several else None
        ),
        sharpe_spread=SpreadView.of(spread([m.sharpe for m in metrics])) if several else None,
        models=models,
        memorisation=memorisation_flags(config, models),
        kill_switch="; ".join(kill) or None,
        killed=_killed(runs, config.limits.max_drawdown),
    )


def _tools_caveat(entrant: Entrant) -> str | None:
    specs = [entrant.agent] if entrant.agent is not None else []
    if entrant.team is not None:  # saved agents are resolved into specs before a run
        specs += [m.spec for m in entrant.team.all_members() if m.spec is not None]
    return tools_caveat(source.name for spec in specs for source in spec.mcp_servers)


def _killed(runs: Sequence[EntrantRun], limit: Decimal | None) -> str | None:
    points = [(run.repeat, kill_point(run, limit)) for run in runs]
    labels = [
        (f"run {repeat} " if len(runs) > 1 else "") + point.label()
        for repeat, point in points
        if point is not None
    ]
    return "; ".join(labels) or None


def _returns(run: EntrantRun) -> np.ndarray[Any, np.dtype[np.float64]]:
    return simple_returns(np.array([float(v) for _, v in run.equity], dtype=np.float64))


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values))


def print_leaderboard(board: Leaderboard, console: Console) -> None:
    """The leaderboard as two rich tables (performance, then trading and LLM costs: one would
    not fit a terminal), then its notes: repeats, flags and skipped entrants."""
    title = (
        f"Arena {board.name!r}: {', '.join(board.symbols)}, {board.start} to {board.end} "
        f"({board.bars} bars"
        + (f", {board.periods_per_year:g} a year" if board.periods_per_year else "")
        + ")"
    )
    every = cells_by_header(board)
    confidence = f"{board.bootstrap.confidence:.0%} CI"
    groups: list[tuple[str, list[str]]] = [
        (title, ["return", "ann.", "Sortino", "max DD", "Calmar", "net return"]),
        ("Sharpe ratio (the ranking)", ["runs", "Sharpe", confidence, "vs bench"]),
        ("Trading and LLM costs, per run", [
            "win rate", "turnover", "trades", "LLM calls", "tokens", "LLM $",
        ]),
    ]  # fmt: skip
    if any(row.llm_valid_theses is not None for row in board.rows):
        answers = ["LLM calls", "valid theses", "re-asks", "abstains"]
        groups.append(("LLM answers, per run", answers))
    for caption, names in groups:
        table = Table(title=caption, box=box.SIMPLE_HEAD)
        table.add_column("#", justify="right")
        table.add_column("entrant", no_wrap=True)
        for name in names:
            table.add_column(name, justify="right", no_wrap=name in (confidence, "vs bench"))
        for row in every:
            table.add_row(row["#"], row["entrant"], *(row[name] for name in names))
        print_table(console, table)
    if board.recall:
        print_table(console, recall_table(board.recall))
    for note in notes(board):
        console.print(note, markup=False, highlight=False, soft_wrap=True)


def recall_table(pairs: Sequence[RecallView]) -> Table:
    table = Table(
        title="With and without anonymise (what an entrant loses anonymised may be recall)",
        box=box.SIMPLE_HEAD,
    )
    for name in ("entrant", "return", "anonymised", "Sharpe", "anonymised", "Sharpe gap"):
        table.add_column(name, justify="left" if name == "entrant" else "right")
    for pair in pairs:
        table.add_row(
            pair.entrant,
            _pct(pair.total_return),
            _pct(pair.anonymised_total_return),
            f"{pair.sharpe:.2f}",
            f"{pair.anonymised_sharpe:.2f}",
            f"{pair.sharpe_gap:+.2f}",
        )
    return table


def notes(board: Leaderboard) -> list[str]:
    """What the tables cannot say: how intervals were made, repeats, flags, skipped entrants."""
    lines = [
        f"Sharpe intervals: {board.bootstrap.method} block bootstrap, {board.bootstrap.samples} "
        f"resamples, block length {board.bootstrap.block_length}, seed {board.bootstrap.seed}, "
        f"{board.bootstrap.confidence:.0%} two-sided; * marks an interval that excludes zero."
    ]
    if board.benchmark:
        lines.append(f"vs bench: Sharpe minus {board.benchmark}'s, on the same resampled days.")
    for row in board.rows:
        if row.sharpe_spread is not None and row.total_return_spread is not None:
            lines.append(
                f"{row.entrant}: {row.runs} runs (seeds {row.seeds}); Sharpe "
                f"{row.sharpe_spread.mean:.2f} ± {row.sharpe_spread.std:.2f}, return "
                f"{row.total_return_spread.mean:.2%} ± {row.total_return_spread.std:.2%}"
            )
        lines += [f"{row.entrant} (!): {flag}" for flag in row.memorisation]
        if row.tools_caveat:
            lines.append(f"{row.entrant}: {row.tools_caveat}")
        if row.llm_valid_theses == 0 and row.llm_abstains:
            lines.append(
                f"{row.entrant}: no valid thesis, {_count(row.llm_abstains)} abstentions per "
                "run: its positions stood still because its models never answered validly"
            )
        if row.killed:
            lines.append(
                f"{row.entrant} {KILLED}: killed {row.killed}; the kill switch sold everything "
                "and held cash for the rest of the run"
            )
        elif row.kill_switch:
            lines.append(f"{row.entrant}: {row.kill_switch}")
    lines += [f"skipped {s.entrant}: {s.reason}" for s in board.skipped]
    lines += [f"data: {line}" for line in board.data_notes]
    return lines


def cells_by_header(board: Leaderboard) -> list[dict[str, str]]:
    names = headers(board)
    return [dict(zip(names, cells(row), strict=True)) for row in board.rows]


def cells(row: Row) -> list[str]:
    """One row as the table shows it (the HTML report uses the same cells)."""
    versus = row.sharpe_vs_benchmark
    name = row.entrant + (" (!)" if row.memorisation else "")
    name += f" {KILLED}" if row.killed else ""
    return [
        str(row.rank),
        name,
        str(row.runs),
        _pct(row.total_return),
        _pct(row.annualized_return),
        f"{row.sharpe:.2f}",
        _interval(row.sharpe_interval),
        "—" if versus is None else f"{versus.estimate:+.2f} {_interval(versus)}",
        f"{row.sortino:.2f}",
        _pct(row.max_drawdown),
        f"{row.calmar:.2f}",
        "n/a" if row.win_rate is None else _pct(row.win_rate),
        f"{row.turnover:.2f}",
        _count(row.trades),
        _count(row.llm_calls),
        _count(row.llm_tokens),
        f"{row.llm_cost_usd:.4f}",
        _pct(row.net_return),
        *("—" if count is None else _count(count) for count in (
            row.llm_valid_theses, row.llm_reasks, row.llm_abstains
        )),
    ]  # fmt: skip


def headers(board: Leaderboard) -> list[str]:
    return [
        "#", "entrant", "runs", "return", "ann.", "Sharpe",
        f"{board.bootstrap.confidence:.0%} CI", "vs bench", "Sortino", "max DD",
        "Calmar", "win rate", "turnover", "trades", "LLM calls", "tokens", "LLM $", "net return",
        "valid theses", "re-asks", "abstains",
    ]  # fmt: skip


def _interval(interval: IntervalView) -> str:
    star = "*" if interval.excludes_zero else ""
    return f"[{interval.lower:.2f}, {interval.upper:.2f}]{star}"


def _pct(value: float) -> str:
    return f"{value:.1%}" if abs(value) < 10 else f"{value:.0%}"


def _count(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
