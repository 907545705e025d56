"""A live view of a trading run for people at a terminal: where the run is, what the money is
doing, what the team decided last and what the LLMs have cost so far.

It is an `EventSink`: the loop hands it each event after the cycle is committed, and it reads
the rest (the team's latest transcript, the gateway's spend) through the callables it was
given, so it never reaches into the loop. `tradepit trade` shows it only when standard output
is a terminal and neither `--json` nor `--events` asked for machine output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Self

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from orchestration.events import ErrorEvent, LoopEvent, ProgressEvent, ResultEvent
from trading.closing import ClosesOnExit


@dataclass(frozen=True, slots=True)
class LlmSpend:
    """LLM use so far: calls made (cached answers included), tokens and dollars paid."""

    calls: int = 0
    cached: int = 0
    tokens: int = 0
    usd: Decimal = Decimal(0)


class LiveView(ClosesOnExit):
    """Call it with each loop event; use it as a context manager around the run."""

    def __init__(
        self,
        console: Console,
        *,
        title: str,
        transcript: Callable[[], Mapping[str, Any] | None] = lambda: None,
        spend: Callable[[], LlmSpend] = LlmSpend,
    ) -> None:
        self.console = console
        self.title = title
        self._transcript = transcript
        self._spend = spend
        self.progress: ProgressEvent | None = None
        self.decision: Mapping[str, Any] | None = None  # the latest decided cycle's transcript
        self.decided_at: tuple[int, str] = (0, "")  # the cycle and moment of `decision`
        self.fills = 0
        self.status = "starting"
        self._live = Live(console=console, auto_refresh=False, transient=False)

    def __enter__(self) -> Self:
        self._live.start()
        self._live.update(self.render(), refresh=True)
        return self

    def close(self) -> None:
        """The last frame stays on the screen; the display stops (on leaving `with`)."""
        self._live.update(self.render(), refresh=True)
        self._live.stop()

    def __call__(self, event: LoopEvent) -> None:
        if isinstance(event, ProgressEvent):
            self.progress = event
            self.fills += event.fills
            self.status = "running"
            latest = self._transcript()
            # Between decisions the team has no transcript: keep showing the last decision.
            if latest is not None and latest is not self.decision:
                self.decision, self.decided_at = latest, (event.cycle, event.as_of)
        elif isinstance(event, ResultEvent):
            self.status = event.status
        elif isinstance(event, ErrorEvent):
            self.status = f"error: {event.error}"
        if self._live.is_started:
            self._live.update(self.render(), refresh=True)

    def render(self) -> RenderableType:
        parts: list[RenderableType] = [self._summary()]
        if self.decision is not None:
            parts.append(self._decision_table(self.decision))
        return Panel(Group(*parts), title=self.title, expand=False)

    def _summary(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        p = self.progress
        total = "?" if p is None or p.total is None else str(p.total)
        spend = self._spend()
        rows = [
            ("status", self.status),
            ("cycle", f"{0 if p is None else p.step}/{total}"),
            ("as of", "-" if p is None else p.as_of),
            ("equity", "-" if p is None else f"{p.equity:,.2f}"),
            ("cash", "-" if p is None else f"{p.cash:,.2f}"),
            ("fills", str(self.fills)),
            (
                "LLM",
                f"{spend.calls} calls ({spend.cached} cached), {spend.tokens:,} tokens, "
                f"${spend.usd:.4f}",
            ),
        ]
        for name, value in rows:
            table.add_row(name, Text(value))
        return table

    def _decision_table(self, transcript: Mapping[str, Any]) -> Table:
        cycle, as_of = self.decided_at
        table = Table(
            title=f"latest decision (cycle {cycle}, {as_of})",
            title_justify="left",
        )
        for column in ("symbol", "action", "target", "consensus", "confidence", "dissent"):
            table.add_column(column, justify="left" if column in {"symbol", "action"} else "right")
        for decided in transcript.get("decisions", []):
            dissent = ", ".join(
                f"{d['agent']} ({d['stance']}, {d['share']:.0%})"
                for d in decided.get("dissent", [])
            )
            table.add_row(
                str(decided["symbol"]),
                str(decided["action"]),
                f"{decided['target_weight']:+.3f}",
                f"{decided['consensus']:.0%}",
                f"{decided['confidence']:.2f}",
                Text(dissent or "none"),
            )
        return table
