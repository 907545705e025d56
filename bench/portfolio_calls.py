"""LLM calls per portfolio decision: a 3-member debate team on the 20-stock universe, each
member answering every symbol in one turn (`portfolio: true`), against the loopback model of
the tests (tests/fakes/llm_server.py). Prints the calls per decision and per member per
round, and what the same team would make asking one symbol at a time.

    python bench/portfolio_calls.py [--rounds 1] [--decisions 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.gateway import LlmGateway, RetryPolicy
from agents.llm_calls import LlmCallStore
from orchestration.team.config import TeamConfig
from orchestration.team.runtime import build_team
from tests.fakes.agents import loopback_providers, portfolio_json
from tests.fakes.llm_server import Say, Step, fake_llm
from trading.clock import ReplayClock
from trading.data import Catalog, PointInTimeView
from trading.data.universe import SP20
from trading.decision import Snapshot
from trading.ledger import Ledger

MEMBERS = (("bull", "bull"), ("bear", "bear"), ("pm", "portfolio_manager"))
FIRST = datetime(2012, 6, 1, tzinfo=UTC)


def reply(body: dict[str, Any]) -> Step:
    return Say(portfolio_json(SP20, {"AAPL": 20, "MSFT": 10}))


async def run(rounds: int, decisions: int, workdir: Path) -> list[int]:
    config = TeamConfig.model_validate(
        {
            "name": "desk",
            "mode": "debate",
            "rounds": rounds,
            "decide_every": 1,
            "members": [
                {
                    "spec": {
                        "name": name,
                        "role": role,
                        "model": "local:primary",
                        "tools": [],
                        "portfolio": True,
                    }
                }
                for name, role in MEMBERS
            ],
        }
    )
    catalog = Catalog.default()
    calls = []
    with fake_llm(reply) as server:
        gateway = LlmGateway(
            run_id="bench",
            store=LlmCallStore(f"sqlite:///{workdir / 'llm.db'}"),
            clock=ReplayClock(FIRST),
            retry=RetryPolicy(attempts=1),
        )
        team = build_team(
            config, catalog=catalog, gateway=gateway, providers=loopback_providers(server)
        )
        for n in range(decisions):
            now = FIRST + timedelta(days=7 * n)
            view = PointInTimeView(catalog, ReplayClock(now))
            snapshot = Snapshot(now, SP20, view, Ledger(cash=Decimal(100_000)).portfolio())
            decision = await team.decide(snapshot)
            calls.append(int(decision.details["llm.calls"]))
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--decisions", type=int, default=3)
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        calls = asyncio.run(run(args.rounds, args.decisions, Path(workdir)))
    seconds = time.perf_counter() - began
    members, symbols, steps = len(MEMBERS), len(SP20), 1 + args.rounds
    print(f"{members}-member debate, {args.rounds} round(s), {symbols} symbols")
    print(f"LLM calls per decision: {calls} (at most {members * steps} allowed)")
    print(f"per member per round: {max(calls) / (members * steps):.2f}")
    print(f"asking one symbol at a time would take {members * symbols * steps} per decision")
    print(f"{seconds:.2f} s for {args.decisions} decisions on the loopback model")
    if max(calls) > members * steps:
        raise SystemExit("more than one call per member per round")


if __name__ == "__main__":
    main()
