"""What `tradepit trade` reports about a run, read back from the database: one JSON document
(`--json`), a rich summary for people, and the comparison a `--replay` makes with its original.

Everything comes from the committed cycles, so the report of a run stopped by its budget, of a
resumed run and of a replay reads the same way as that of a run that went through in one go.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from agents.llm_calls import LlmCall
from agents.mcp_sources import tools_caveat
from agents.turn_counts import counts_by_member
from orchestration.cli.common import print_table, stderr, stdout
from orchestration.cli.trade_options import Output
from orchestration.cli.trade_setup import Prepared
from orchestration.loop import LoopResult
from orchestration.resume import stored_run
from trading.ids import OrderId
from trading.metrics import benchmark_name
from trading.storage import Store

# Decided cycles the people's summary lists; --json lists them all.
SHOWN_DECISIONS = 20


def replay_check(p: Prepared) -> list[str] | None:
    """None unless this is a replay; else how it differs from its original (nothing: equal)."""
    if p.replay_of is None:
        return None
    made = [c for c in (p.gateway.calls if p.gateway else []) if not c.cached]
    found = [f"{len(made)} LLM calls were made, not zero"] if made else []
    return found + replay_differences(p.store, p.replay_of, p.run_id)


def report(
    p: Prepared, result: LoopResult | None, output: Output, differences: list[str] | None = None
) -> None:
    """The run's document on stdout (`--json`), or its summary for people; with `--events`
    stdout carries only events, so a replay's verdict goes to stderr."""
    calls = p.calls.calls(p.run_id) if p.calls is not None else []
    doc = run_document(p.store, p.run_id, calls, result)
    if differences is not None:
        doc["replay"] = {
            "of": p.replay_of,
            "llm_calls_made": len([c for c in calls if not c.cached]),
            "ledger_equal": not differences,
            "differences": differences,
        }
    if output == "json":
        print(json.dumps(doc, indent=1))
        return
    console = stdout if output == "people" else stderr
    if output == "people":
        print_summary(console, doc)
    if differences is not None:
        verdict = "equals" if not differences else "DIFFERS from"
        lines = [
            f"replay of {p.replay_of} as {p.run_id}: {doc['llm']['cached']} LLM answers from "
            f"the cache, {doc['replay']['llm_calls_made']} calls made; the final ledger "
            f"{verdict} the original's",
            *(f"  {line}" for line in differences),
        ]
        for line in lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)


def run_document(
    store: Store, run_id: str, calls: list[LlmCall], result: LoopResult | None = None
) -> dict[str, Any]:
    """The run as one JSON document: money and quantities as exact decimal strings."""
    stored = stored_run(store, run_id)
    record = store.run(run_id)
    rows = store.cycles(run_id)  # with the transcripts, whose turns are counted
    targets = {d.seq: d.targets for d in store.decisions(run_id)}
    last = rows[-1].ledger if rows else {}
    meta = stored.meta
    team = meta.get("team", {})
    fresh = [c for c in calls if not c.cached]
    kraken = meta.get("kraken")
    metrics = None
    if result is not None and result.replay is not None:
        metrics = result.replay.metrics.model_dump(mode="json")
    members = [_member_name(m) for m in team.get("members", [])]
    turns = [
        turn
        for row in rows
        for step in (row.transcript or {}).get("steps", [])
        for turn in step.get("turns", [])
    ]
    member_turns = counts_by_member(turns, (c.agent for c in calls), members)
    return {
        "run_id": run_id,
        "status": None if record is None else record.status,
        "team": stored.agent,
        "members": members,
        # Per member: LLM calls, valid theses, re-asks and abstentions, over every decision.
        "member_turns": {name: counts.to_json() for name, counts in member_turns.items()},
        "skipped": meta.get("skipped", []),
        # Set when members call external MCP servers: not proven point-in-time.
        "tools_caveat": _tools_caveat(meta),
        # Set on the bundled stock universe: survivorship-biased, closes only.
        "data_notes": list(meta.get("data_notes", [])),
        "replay_of": meta.get("replay_of"),
        # Runs of the bundled data trade on paper; a Kraken run says how it traded.
        "source": "kraken" if isinstance(kraken, Mapping) else "bundled",
        "mode": kraken.get("mode") if isinstance(kraken, Mapping) else "paper",
        "symbols": list(stored.config.symbols),
        "start": rows[0].session().isoformat() if rows else None,
        "end": rows[-1].session().isoformat() if rows else None,
        "cycles": len(rows),
        "total": None if result is None else result.total,
        "initial_cash": str(stored.config.cash),
        "final_equity": last.get("equity", str(stored.config.cash)),
        "final_cash": last.get("cash", str(stored.config.cash)),
        "kill_switch": last.get("kill_switch") or None,
        "fills": len(store.fills(run_id)),
        "benchmark": benchmark_name(stored.config.symbols),
        "metrics": metrics,
        "budget": meta.get("budget"),
        "llm": {
            "calls": len(calls),
            "cached": len(calls) - len(fresh),
            "tokens": sum(c.tokens for c in calls),
            "paid_tokens": sum(c.tokens for c in fresh),
            "usd": str(sum((c.cost_usd for c in fresh), Decimal(0))),
        },
        "decisions": [
            {
                "cycle": row.cycle,
                "time": row.time.isoformat(),
                "as_of": row.moment(),
                "targets": dict(targets.get(row.cycle, {})),
                "consensus": {
                    key.removesuffix(".consensus"): value
                    for key, value in row.details.items()
                    if key.endswith(".consensus")
                },
                "llm_calls": row.details["llm.calls"],
                "llm_tokens": row.details["llm.tokens"],
            }
            for row in rows
            # A team writes its LLM use into every decision it makes, and only then.
            if "llm.calls" in row.details
        ],
    }


def print_summary(console: Console, doc: Mapping[str, Any]) -> None:
    table = Table(
        title=f"{doc['team']} on {', '.join(doc['symbols'])}",
        title_justify="left",
        show_header=False,
    )
    table.add_column("")
    table.add_column("", justify="right")
    llm = doc["llm"]
    total = f" of {doc['total']}" if doc["total"] is not None else ""
    rows = [
        ("run id", doc["run_id"]),
        ("status", doc["status"]),
        ("source", f"{doc['source']} ({doc['mode']})"),
        ("members", ", ".join(doc["members"])),
        ("period", f"{doc['start']} to {doc['end']}"),
        ("cycles", f"{doc['cycles']}{total}"),
        ("initial cash", f"{Decimal(doc['initial_cash']):,.2f}"),
        ("final equity", f"{Decimal(doc['final_equity']):,.2f}"),
        ("final cash", f"{Decimal(doc['final_cash']):,.2f}"),
        ("fills", str(doc["fills"])),
        ("decisions", str(len(doc["decisions"]))),
        ("LLM calls", f"{llm['calls']} ({llm['cached']} from the cache)"),
        ("LLM tokens", f"{llm['tokens']:,} ({llm['paid_tokens']:,} paid)"),
        ("LLM cost", f"${Decimal(llm['usd']):.4f}"),
    ]
    if doc["metrics"] is not None:
        m = doc["metrics"]
        rows += [
            ("total return", f"{m['total_return']:.2%}"),
        ]
        if m["benchmark_total_return"] is not None:
            rows.append((f"benchmark: {doc['benchmark']}", f"{m['benchmark_total_return']:.2%}"))
        rows += [
            ("max drawdown", f"{m['max_drawdown']:.2%}"),
            ("Sharpe", f"{m['sharpe']:.3f}"),
        ]
    if doc["kill_switch"]:
        rows.append(("kill switch", doc["kill_switch"]))
    for name, value in rows:
        table.add_row(name, value)
    print_table(console, table)
    if doc.get("tools_caveat"):
        console.print(
            f"tools: {doc['tools_caveat']}", markup=False, highlight=False, soft_wrap=True
        )
    for caveat in doc.get("data_notes", []):
        console.print(f"data: {caveat}", markup=False, highlight=False, soft_wrap=True)
    _print_member_turns(console, doc["member_turns"])
    decisions = doc["decisions"]
    if decisions:
        shown = decisions[-SHOWN_DECISIONS:]
        title = "decisions" + (
            f" (the last {len(shown)} of {len(decisions)})" if len(shown) < len(decisions) else ""
        )
        listing = Table(title=title, title_justify="left")
        # "as of": a daily bar's session date (`trading.clock.moment_label`), not its close
        # stamp, midnight UTC of the next day; a shorter bar's cycle time in UTC.
        for column in ("cycle", "as of", "targets", "consensus", "LLM calls", "tokens"):
            listing.add_column(column, justify="right" if column != "targets" else "left")
        for d in shown:
            listing.add_row(
                str(d["cycle"]),
                d["as_of"],
                ", ".join(f"{s} {w}" for s, w in d["targets"].items()) or "hold",
                ", ".join(f"{s} {c:.0%}" for s, c in d["consensus"].items()) or "-",
                str(d["llm_calls"]),
                str(d["llm_tokens"]),
            )
        print_table(console, listing)
        console.print(
            f"the debate behind a decision: tradepit debate show {doc['run_id']} "
            f"{decisions[-1]['cycle']}",
            markup=False,
            highlight=False,
        )


def _print_member_turns(console: Console, member_turns: Mapping[str, Mapping[str, int]]) -> None:
    """Whose answers the decisions rest on: a member that only abstained is not a flat one."""
    if not member_turns:
        return
    table = Table(title="members' answers", title_justify="left")
    table.add_column("member")
    for column in ("LLM calls", "valid theses", "re-asks", "abstains"):
        table.add_column(column, justify="right")
    for name, counts in member_turns.items():
        table.add_row(
            name,
            *(str(counts[k]) for k in ("calls", "valid_theses", "reasks", "abstains")),
        )
    print_table(console, table)


def replay_differences(store: Store, original: str, replay: str) -> list[str]:
    """How a replay's committed cycles differ from its original's over the cycles both
    committed: the number of cycles, any decision's targets, and the final ledger."""
    mine, theirs = store.cycles(replay, full=False), store.cycles(original, full=False)
    found: list[str] = []
    if len(mine) != len(theirs):
        found.append(f"the original committed {len(theirs)} cycles, the replay {len(mine)}")
    both = min(len(mine), len(theirs))
    if both == 0:
        return found
    decided = {d.seq: d.targets for d in store.decisions(original)}
    for d in store.decisions(replay):
        if d.seq < both and decided.get(d.seq) != d.targets:
            found.append(
                f"cycle {d.seq}: the original decided {decided.get(d.seq)!r}, "
                f"the replay {d.targets!r}"
            )
            break
    a = _comparable(theirs[both - 1].ledger, original)
    b = _comparable(mine[both - 1].ledger, replay)
    found += [
        f"final ledger {key}: original {a.get(key)!r}, replay {b.get(key)!r}"
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]
    return found


def _comparable(ledger: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """A ledger snapshot without its run's name, which its order ids (`OrderId`) hold."""
    orders = ledger.get("open_orders") or {}
    return {**ledger, "open_orders": {_unnamed(key, run_id): q for key, q in orders.items()}}


def _unnamed(order_id: str, run_id: str) -> str:
    key = OrderId.parse(order_id, run_id)
    return order_id if key is None else f"{key.cycle}-{key.symbol}"


def _tools_caveat(meta: Mapping[str, Any]) -> str | None:
    """From the stored team: its inline specs and the saved agents it resolved."""
    team = meta.get("team") or {}
    members = [*team.get("members", []), *([team["judge"]] if team.get("judge") else [])]
    specs = [m["spec"] for m in members if isinstance(m.get("spec"), Mapping)]
    specs += list((meta.get("agents") or {}).values())
    return tools_caveat(str(s["name"]) for spec in specs for s in spec.get("mcp_servers", []))


def _member_name(member: Mapping[str, Any]) -> str:
    spec = member.get("spec")
    if isinstance(spec, Mapping):
        return str(spec.get("name"))
    return str(member.get("agent") or member.get("name") or member.get("quant"))
