"""`tradepit debate show RUN_ID CYCLE`: how a team reached one decision, read back from the
transcript the trading loop stored with that cycle: each step of the team's graph, every
member's thesis, revision or abstention with each attempt's reply and the tool calls behind
it (a reply past 400 characters shortened at a word, never inside a figure), the merged decision
with its weights, consensus and dissent, the risk gate's reviews, and the LLM calls and tokens
the decision took."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orchestration.cli.common import (
    JsonFlag,
    RunDatabase,
    clean_errors,
    command_group,
    fail,
    print_table,
    stdout,
)
from orchestration.cli.options import option_groups
from trading.storage import DecisionRecord, Store

# Characters of a model's reply a transcript line shows; --json has them all.
SHOWN_REPLY_CHARS = 400

debate_app = command_group("Team debates: the stored transcript behind each decision of a run.")


@debate_app.command("show")
@clean_errors
@option_groups
def show(
    run_id: Annotated[str, typer.Argument(help="The run, as `tradepit trade` named it.")],
    cycle: Annotated[int, typer.Argument(help="The cycle (0-based) whose decision to show.")],
    *,
    where: RunDatabase,
    as_json: JsonFlag = False,
) -> None:
    """Print the stored transcript of one cycle's decision, readably (or as JSON)."""
    store = Store(where.url())
    try:
        if store.run(run_id) is None:
            fail(f"no run {run_id!r} in the database")
        rows = store.cycles(run_id, full=False)
        row = store.cycle(run_id, cycle)
        decided = [r.cycle for r in rows if "llm.calls" in r.details]
        if row is None:
            fail(f"run {run_id!r} has no cycle {cycle}; it has cycles 0 to {len(rows) - 1}")
        if row.transcript is None:
            fail(
                f"cycle {cycle} of run {run_id!r} has no transcript (its team decides only "
                f"every few bars); cycles with one: {_listing(decided)}"
            )
        decision = next((d for d in store.decisions(run_id) if d.seq == cycle), None)
    finally:
        store.close()
    if as_json:
        print(json.dumps(_document(run_id, cycle, row.transcript, decision), indent=1))
    else:
        print_transcript(stdout, run_id, cycle, row.transcript, decision, moment=row.moment())


def _document(
    run_id: str, cycle: int, transcript: Mapping[str, Any], decision: DecisionRecord | None
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "cycle": cycle,
        "transcript": dict(transcript),
        "targets": None if decision is None else decision.targets,
        "risk": None if decision is None else decision.risk,
        "llm": transcript.get("llm"),
    }


def print_transcript(
    console: Console,
    run_id: str,
    cycle: int,
    transcript: Mapping[str, Any],
    decision: DecisionRecord | None,
    *,
    moment: str,
) -> None:
    llm = transcript.get("llm") or {}
    console.rule(f"run {run_id}, cycle {cycle}: team {transcript.get('team')}")
    _say(console, f"as of {moment}, symbols {', '.join(transcript['symbols'])}")
    for step in transcript.get("steps", []):
        console.print()
        _say(console, f"step {step['name']} ({step['kind']}): {step['status']}", bold=True)
        if step["status"] == "failed":
            _say(console, f"  {step.get('error')}")
        for turn in step.get("turns", []):
            _turn(console, turn)
        for revision in step.get("revisions", []):
            _revision(console, revision)
        if step.get("panel"):
            for merged in step["panel"]:
                _say(
                    console,
                    f"  the panel's own merge on {merged['symbol']}: "
                    f"{_weight(merged.get('merged_weight'))}",
                )
    console.print()
    for merged in transcript.get("decisions", []):
        _decision(console, merged)
    if decision is not None:
        _risk(console, decision)
    _say(
        console,
        f"LLM: {llm.get('calls', 0)} calls ({llm.get('cached', 0)} from the cache), "
        f"{llm.get('tokens', 0)} tokens, ${llm.get('usd', '0')}",
    )


def _turn(console: Console, turn: Mapping[str, Any]) -> None:
    prefix = f"  [round {turn['round']}] " if "round" in turn else "  "
    outcome = turn["outcome"]
    who = f"{prefix}{turn['agent']} on {turn['symbol']}: "
    if "stance" in outcome:
        _say(
            console,
            f"{who}{outcome['stance']} {outcome['target_weight']:+.2f} at confidence "
            f"{outcome['confidence']:.2f}, {outcome['horizon_days']} days: "
            f"{outcome['rationale']}",
        )
        evidence = "; ".join(f"{e['tool']}: {e['detail']}" for e in outcome.get("evidence", []))
        _say(console, f"      evidence: {evidence}")
    else:
        _say(console, f"{who}ABSTAINED: {outcome['reason']}")
    attempts = turn.get("attempts", [])
    for number, attempt in enumerate(attempts, start=1):
        for tool in attempt.get("tools", []):
            failed = " (error)" if tool.get("error") else ""
            _say(
                console,
                f"      tool {tool['name']}({json.dumps(tool.get('arguments', {}))}){failed}",
            )
        error = attempt.get("error")
        if not attempt.get("answered", True):
            same = error == outcome.get("reason")
            _say(console, f"      attempt {number}: {'no model answered' if same else error}")
            continue
        _say(console, f"      attempt {number} reply: {shortened(attempt.get('reply', ''))}")
        if error:
            _say(console, f"      attempt {number} refused: {error}")


def shortened(text: str, limit: int = SHOWN_REPLY_CHARS) -> str:
    """A reply as a transcript line shows it: whole up to `limit` characters, else cut where
    no word or figure is split, saying how much is left out."""
    text = text.strip()
    if not text:
        return "(empty)"
    if len(text) <= limit:
        return text
    cut = limit
    while cut > 0 and _joined(text, cut):
        cut -= 1
    if cut == 0:  # one token longer than the limit: show it whole
        cut = limit
        while cut < len(text) and _joined(text, cut):
            cut += 1
    shown = text[:cut].rstrip()
    left = len(text) - len(shown)
    return f"{shown} ({left} more chars; --json shows all)" if left else shown


def _joined(text: str, at: int) -> bool:
    """Whether `at` falls inside a word or a figure (1,213.60, -0.45, 12%)."""
    return _in_token(text[at - 1]) and _in_token(text[at])


def _in_token(char: str) -> bool:
    return char.isalnum() or char in ".,%+-_"


def _revision(console: Console, revision: Mapping[str, Any]) -> None:
    before, after = revision.get("before"), revision.get("after")
    change = "revised" if revision.get("changed") else "kept"
    failed = (
        " (the revision failed; the earlier view stands)" if revision.get("revision_failed") else ""
    )
    _say(
        console,
        f"  [round {revision['round']}] {revision['agent']} {change} on {revision['symbol']}: "
        f"{_brief(before)} -> {_brief(after)}{failed}; {revision.get('reason', '')}",
    )


def _decision(console: Console, merged: Mapping[str, Any]) -> None:
    _say(
        console,
        f"decision on {merged['symbol']}: {merged['action']}, target "
        f"{merged['target_weight']:+.4f} (merged {_weight(merged.get('merged_weight'))}, "
        f"current {merged['current_weight']:+.4f}), consensus {merged['consensus']:.0%}, "
        f"confidence {merged['confidence']:.2f}",
        bold=True,
    )
    votes = merged.get("votes", [])
    if votes:
        table = Table(title_justify="left")
        for column in ("member", "stance", "target", "confidence", "track", "weight", "share"):
            table.add_column(column, justify="left" if column in {"member", "stance"} else "right")
        for v in votes:
            table.add_row(
                Text(v["agent"]),
                v["stance"],
                f"{v['target']:+.3f}",
                f"{v['confidence']:.2f}",
                f"{v['track_weight']:.2f}",
                f"{v['weight']:.3f}",
                f"{v['share']:.0%}",
            )
        print_table(console, table)
    for d in merged.get("dissent", []):
        _say(
            console,
            f"  dissent: {d['agent']} ({d['stance']}, target {d['target']:+.3f}, "
            f"{d['share']:.0%} of the weight, {d['gap']:.3f} from the decision)",
        )
    for agent, reason in (merged.get("abstentions") or {}).items():
        _say(console, f"  abstained: {agent}: {reason}")
    _say(console, f"  {merged['rationale']}")


def _risk(console: Console, decision: DecisionRecord) -> None:
    targets = ", ".join(f"{s} {w}" for s, w in decision.targets.items()) or "none (hold)"
    _say(console, f"targets sent to the risk gate: {targets}")
    for review in decision.risk:
        reasons = "; ".join(review.get("reasons", [])) or "within limits"
        _say(
            console,
            f"  risk: {review['symbol']} {review['side']} {review['proposed']} -> "
            f"{review['verdict']} {review['approved']} ({reasons})",
        )


def _brief(view: Mapping[str, Any] | None) -> str:
    if view is None:
        return "none"
    if "abstain" in view:
        return f"abstain ({view['abstain']})"
    return f"{view['stance']} {view['target_weight']:+.2f} @ {view['confidence']:.2f}"


def _weight(value: float | None) -> str:
    return "none (no quorum)" if value is None else f"{value:+.4f}"


def _listing(cycles: list[int]) -> str:
    if not cycles:
        return "none"
    shown = ", ".join(str(c) for c in cycles[:20])
    return shown + (f", ... ({len(cycles)} in all)" if len(cycles) > 20 else "")


def _say(console: Console, line: str, *, bold: bool = False) -> None:
    # Agents' words are data: no rich markup may be read out of them.
    console.print(Text(line, style="bold" if bold else ""), soft_wrap=True)
