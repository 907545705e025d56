"""`tradepit trade` end to end, in-process: teams of scripted LLM agents (a loopback server on
the OpenAI wire format) and quant members trade a few weeks of real history; budgets stop a
run cleanly, a resume pays no answered call twice, a replay makes no call at all, and `tradepit
debate show` reads back how each decision was reached."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from sqlalchemy import text

from agents.manager import AgentManager
from agents.providers import ProvidersConfig
from agents.specs import AgentSpec
from orchestration.cli.debate import print_transcript, shortened
from orchestration.cli.live_view import LiveView, LlmSpend
from orchestration.cli.trade_run import EXIT_BUDGET, EXIT_REPLAY_DIFFERS
from orchestration.cli.trade_setup import Runnable, runnable_team
from orchestration.events import ProgressEvent
from orchestration.team.config import TeamConfig
from tests.fakes.agents import loopback_providers, thesis_json
from tests.fakes.llm_server import CallTool, FakeLlm, Say, Step, fake_llm
from tests.orchestration.cli.helpers import bad, invoke
from trading.clock import ReplayClock
from trading.errors import ConfigError
from trading.storage import Store

ROOT = Path(__file__).resolve().parents[3]
PROMPT = [{"tool": "prompt", "detail": "last close 1213.60"}]
# 28 SPX bars: with a decision on every tenth, the team decides at cycles 0, 10 and 20.
WINDOW = ["--symbols", "SPX", "--start", "2008-09-02", "--end", "2008-10-09"]
CYCLES = 28


def answer(**fields: Any) -> Say:
    return Say(thesis_json(evidence=PROMPT, **fields))


SUMMARY = CallTool("get_market_summary", {"symbols": ["SPX"]})
CITED = [{"tool": "get_market_summary", "detail": "the 20-day trend is down"}]
REPLIES: dict[tuple[str, str], Step] = {
    # The bull looks at the market first (one tool call), then answers citing it.
    ("bull", "thesis"): SUMMARY,
    ("bull", "tool result"): Say(
        thesis_json(stance="buy", target_weight_pct=60, confidence_pct=80, evidence=CITED)
    ),
    ("bear", "thesis"): answer(stance="sell", target_weight_pct=-40, confidence_pct=50),
    ("bull", "debate"): answer(stance="buy", target_weight_pct=60, confidence_pct=80),
    ("bear", "debate"): answer(
        stance="hold", target_weight_pct=0, confidence_pct=50, rationale="The bull's case holds."
    ),
}


def by_role(body: dict[str, Any]) -> Step:
    """The scripted model answers by the asking agent's role and the phase of the question."""
    system = body["messages"][0]["content"]
    role = system.split("Role: ")[1].split(" ")[0].rstrip(".")
    last = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    if body["messages"][-1]["role"] == "tool":
        return REPLIES[(role, "tool result")]
    return REPLIES[(role, "debate" if "Debate round" in last else "thesis")]


def spec(name: str, role: str, tools: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"name": name, "role": role, "model": "local:primary", "tools": tools, "timeout_s": 5}


class Desk:
    """A tradepit home with a providers file for the fake model and team files."""

    def __init__(self, root: Path, server: FakeLlm | None) -> None:
        self.root = root
        self.home = root / "home"
        self.server = server
        self.providers = root / "providers.yaml"
        if server is not None:
            dumped = loopback_providers(server).model_dump(mode="json")
            self.providers.write_text(yaml.safe_dump(dumped))

    @property
    def db(self) -> str:
        return f"sqlite:///{self.home / 'replay.db'}"

    def team(self, config: dict[str, Any], name: str = "team.yaml") -> Path:
        path = self.root / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def trade(self, *args: str) -> tuple[int, str, str]:
        extra = ["--providers", str(self.providers)] if self.server is not None else []
        return invoke("trade", *args, *extra)

    def store(self) -> Store:
        return Store(self.db)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))


@pytest.fixture
def debating(tmp_path: Path) -> Iterator[Desk]:
    with fake_llm(by_role) as server:
        yield Desk(tmp_path, server)
        assert not server.errors


def debate_team(desk: Desk) -> Path:
    """bull inline, bear a saved agent, and a quant member; debate with one rebuttal round."""
    with AgentManager.at_home(desk.home, ReplayClock(datetime(2026, 1, 1, tzinfo=UTC))) as agents:
        agents.create(AgentSpec.model_validate(spec("bear", "bear")))
    return desk.team(
        {
            "name": "desk",
            "mode": "debate",
            "rounds": 1,
            "decide_every": 10,
            "members": [
                {"spec": spec("bull", "bull", ("get_market_summary",))},
                {"agent": "bear"},
                {"quant": "buy_and_hold", "confidence": 0.5},
            ],
        }
    )


def test_a_debating_team_trades_end_to_end_and_debate_show_reads_its_transcript(
    debating: Desk,
) -> None:
    team = debate_team(debating)
    code, out, err = debating.trade("--team", str(team), *WINDOW, "--run-id", "run-1", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["status"], doc["cycles"], doc["total"]) == ("finished", CYCLES, CYCLES)
    assert doc["members"] == ["bull", "bear", "buy_and_hold"]
    assert [d["cycle"] for d in doc["decisions"]] == [0, 10, 20]
    # Each decision: a thesis and a revision from each LLM member, the bull's thesis in two
    # calls around its tool call; the quant member gives a thesis and does not revise.
    assert doc["member_turns"] == {
        "bull": {"calls": 9, "valid_theses": 6, "reasks": 0, "abstains": 0},
        "bear": {"calls": 6, "valid_theses": 6, "reasks": 0, "abstains": 0},
        "buy_and_hold": {"calls": 0, "valid_theses": 3, "reasks": 0, "abstains": 0},
    }
    # Weights are confidence x a neutral track record: bull 0.8 at 0.6, bear's hold 0.5 at
    # the current weight 0, buy_and_hold 0.5 at 1.0: (0.48 + 0 + 0.5) / 1.8.
    first = doc["decisions"][0]
    assert first["targets"] == {"SPX": "0.544444"}
    # Two theses (the bull's in two calls, around its tool call) and two revisions.
    assert (first["llm_calls"], first["llm_tokens"]) == (5, 150)
    assert doc["llm"]["calls"] == len(debating.server.requests) == 15  # type: ignore[union-attr]
    assert doc["llm"]["usd"] == str(15 * Decimal("0.00004"))
    assert doc["fills"] >= 1
    assert Decimal(doc["final_equity"]) != Decimal(doc["initial_cash"])

    store = debating.store()
    run = store.run("run-1")
    cycle = store.cycle("run-1", 0)
    store.close()
    assert run is not None
    assert cycle is not None
    meta = run.config["meta"]
    assert meta["team_yaml"] == team.read_text()
    assert meta["agents"]["bear"]["role"] == "bear"  # the saved agent, as it was at the start
    assert meta["budget"] == {"usd": "5", "tokens": 2_000_000}  # the default budget
    transcript = cycle.transcript
    assert transcript is not None
    assert [s["name"] for s in transcript["steps"]] == ["analysts", "debate", "merge"]
    [merged] = transcript["decisions"]
    shares = {v["agent"]: v["share"] for v in merged["votes"]}
    # Shares of the weight (confidence x track record), not of the target.
    assert shares == pytest.approx(
        {"bull": 0.8 / 1.8, "bear": 0.5 / 1.8, "buy_and_hold": 0.5 / 1.8}
    )
    assert [d["agent"] for d in merged["dissent"]] == ["bear"]

    code, shown, err = invoke("debate", "show", "run-1", "0")
    assert code == 0, err
    for expected in (
        "step debate (debate): done",
        "bull on SPX: buy +0.60 at confidence 0.80",
        "evidence: get_market_summary: the 20-day trend is down",
        'tool get_market_summary({"symbols": ["SPX"]})',
        "bear revised on SPX: sell -0.40 @ 0.50 -> hold +0.00 @ 0.50",
        "The bull's case holds.",
        "decision on SPX: buy, target +0.5444",
        "consensus",
        "dissent: bear (hold",
        "risk: SPX buy",
        "LLM: 5 calls (0 from the cache), 150 tokens",
    ):
        assert expected in shown, expected
    code, shown, err = invoke("debate", "show", "run-1", "0", "--json")
    assert code == 0, err
    assert json.loads(shown)["transcript"] == transcript
    assert json.loads(shown)["targets"] == {"SPX": "0.544444"}


def test_members_that_never_answer_validly_show_as_abstentions_not_as_a_flat_team(
    tmp_path: Path,
) -> None:
    # Two LLMs that never reply in JSON keep the team below its quorum of two: the quant
    # member's signals never trade, and the report says whose answers were missing.
    with fake_llm(lambda body: Say("Up, I think.")) as server:
        desk = Desk(tmp_path, server)
        team = desk.team(
            {
                "name": "mumblers",
                "mode": "vote",
                "decide_every": 10,
                "members": [
                    {"spec": spec("bull", "bull")},
                    {"spec": spec("bear", "bear")},
                    {"quant": "buy_and_hold"},
                ],
            }
        )
        code, out, err = desk.trade("--team", str(team), *WINDOW, "--run-id", "m1", "--json")
        assert code == 0, err
        doc = json.loads(out)
        assert doc["fills"] == 0
        # Three decisions; each LLM is asked once and re-asked twice each time, then abstains.
        silent = {"calls": 9, "valid_theses": 0, "reasks": 6, "abstains": 3}
        assert doc["member_turns"] == {
            "bull": silent,
            "bear": silent,
            "buy_and_hold": {"calls": 0, "valid_theses": 3, "reasks": 0, "abstains": 0},
        }
        assert len(server.requests) == 18
        code, shown, err = desk.trade("--replay", "m1")
        assert code == 0, err
    cells = [line.replace("│", " ").split() for line in shown.splitlines()]
    assert ["bull", "9", "0", "6", "3"] in cells
    assert ["buy_and_hold", "0", "3", "0", "0"] in cells
    for header in ("member", "LLM calls", "valid theses", "re-asks", "abstains"):
        assert header in shown


@pytest.fixture(scope="module")
def quant_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A finished run of two quant members, deciding every tenth bar; its database URL."""
    root = tmp_path_factory.mktemp("quant-run")
    team = Desk(root, None).team({"name": "quants", "decide_every": 10, "members": QUANTS})
    url = f"sqlite:///{root / 'runs.db'}"
    code, _, err = invoke("trade", "--team", str(team), *WINDOW, "--run-id", "run-1", "--db", url)
    assert code == 0, err
    return url


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run-1", "1"], "cycle 1 of run 'run-1' has no transcript"),
        (["run-1", "99"], "run 'run-1' has no cycle 99; it has cycles 0 to 27"),
        (["nope", "0"], "no run 'nope' in the database"),
    ],
)
def test_debate_show_refuses_what_is_not_there_in_one_line(
    quant_run: str, args: list[str], message: str
) -> None:
    code, _, err = invoke("debate", "show", *args, "--db", quant_run)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
    if args[1] == "1":
        assert "cycles with one: 0, 10, 20" in err


QUANTS = [
    {"quant": "sma_cross", "params": {"fast": 3, "slow": 8}, "confidence": 0.7},
    {"quant": "momentum", "params": {"lookback": 5}, "confidence": 0.5},
]


def test_events_are_one_json_object_per_line(tmp_path: Path) -> None:
    desk = Desk(tmp_path, None)
    team = desk.team({"name": "quants", "mode": "vote", "decide_every": 2, "members": QUANTS})
    code, out, err = desk.trade("--team", str(team), *WINDOW, "--events", "jsonl")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["type"] for e in events] == ["progress"] * CYCLES + ["result"]
    assert [e["step"] for e in events[:-1]] == list(range(1, CYCLES + 1))
    assert events[-1]["status"] == "finished"
    assert events[-1]["final_equity"] == events[-2]["equity"]


# ---- budgets, resume and replay ----------------------------------------------------------------


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[Desk]:
    """One LLM member, asked in turn: a list script, six answers for six decisions."""
    script: list[Step] = [
        answer(stance="buy", target_weight_pct=round(w * 100), confidence_pct=90) for w in SIX
    ]
    with fake_llm(script) as server:
        yield Desk(tmp_path, server)
        server.assert_done()


SIX = [0.5, 0.8, 0.3, 0.9, 0.2, 0.7]  # the bull's targets, one per decision


def bull_and_quants(desk: Desk) -> Path:
    return desk.team(
        {
            "name": "bullish",
            "mode": "vote",
            "decide_every": 5,
            "coordinator": {"min_agents": 1},
            "members": [{"spec": spec("bull", "bull")}, *QUANTS],
        }
    )


def test_a_budget_stops_the_run_cleanly_and_a_resume_pays_no_answer_twice(
    scripted: Desk,
) -> None:
    server = scripted.server
    assert server is not None
    team = bull_and_quants(scripted)
    # 30 tokens a call: the third call (cycle 10) passes 70, and the run stops there.
    code, _, err = scripted.trade(
        "--team", str(team), *WINDOW, "--run-id", "run-b", "--budget-tokens", "70"
    )
    assert code == EXIT_BUDGET
    assert "token budget reached: 90 of 70 tokens spent" in err
    assert "tradepit trade --resume run-b" in err
    assert "Traceback" not in err
    store = scripted.store()
    run = store.run("run-b")
    assert run is not None
    assert run.status == "stopped"
    assert len(store.cycles("run-b")) == 10  # cycle 10 was not committed half-way
    store.close()
    assert len(server.requests) == 3

    # A replay of the stopped run trades the ten cycles it committed, and no more.
    code, out, err = scripted.trade("--replay", "run-b", "--json")
    assert code == 0, err
    replayed = json.loads(out)
    assert (replayed["status"], replayed["cycles"]) == ("stopped", 10)
    assert replayed["replay"]["ledger_equal"] is True
    assert len(server.requests) == 3

    # The same budget: cycle 10's answer comes from the cache, the next question is not sent.
    code, _, err = scripted.trade("--resume", "run-b")
    assert code == EXIT_BUDGET
    assert "token budget reached: 90 of 70 tokens spent" in err
    assert len(server.requests) == 3

    code, out, err = scripted.trade("--resume", "run-b", "--budget-tokens", "1000", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["status"], doc["cycles"]) == ("finished", CYCLES)
    assert len(server.requests) == 6  # cycles 15, 20 and 25; cycle 10 was never asked again
    assert doc["llm"]["paid_tokens"] == 6 * 30
    assert [d["cycle"] for d in doc["decisions"]] == [0, 5, 10, 15, 20, 25]

    # A replay answers every question from the cache: no call reaches the model.
    code, out, err = scripted.trade("--replay", "run-b", "--run-id", "replay-b", "--json")
    assert code == 0, err
    replayed = json.loads(out)
    assert len(server.requests) == 6
    assert replayed["replay"] == {
        "of": "run-b",
        "llm_calls_made": 0,
        "ledger_equal": True,
        "differences": [],
    }
    assert replayed["final_equity"] == doc["final_equity"]
    assert replayed["llm"]["cached"] == 6

    code, out, err = scripted.trade("--replay", "run-b")
    assert code == 0, err
    assert "0 calls made; the final ledger equals the original's" in out

    # Without its answers the replay cannot go on, and it says so rather than call a model.
    store = scripted.store()
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM llm_recordings"))
    store.close()
    code, out, err = scripted.trade("--replay", "run-b")
    assert code == EXIT_REPLAY_DIFFERS
    assert "the replay differs from run 'run-b'" in err
    assert "asked something the original run never asked" in err
    assert len(server.requests) == 6


def test_without_a_budget_the_default_one_stops_the_run(tmp_path: Path) -> None:
    # One answer of 2,000,000 prompt tokens (and 10 completion tokens) passes the default
    # token budget: the run stops at the first decision, instead of spending without end.
    huge = Say(thesis_json(evidence=PROMPT), prompt_tokens=2_000_000)
    with fake_llm([huge]) as server:
        desk = Desk(tmp_path, server)
        team = bull_and_quants(desk)
        code, _, err = desk.trade("--team", str(team), *WINDOW, "--run-id", "run-d")
        server.assert_done()
    assert code == EXIT_BUDGET
    assert "token budget reached: 2000010 of 2000000 tokens spent" in err
    store = desk.store()
    run = store.run("run-d")
    store.close()
    assert run is not None
    assert run.config["meta"]["budget"] == {"usd": "5", "tokens": 2_000_000}


def test_help_says_which_budget_applies_when_none_is_given() -> None:
    code, out, _ = invoke("trade", "--help")
    assert code == 0
    flat = " ".join(out.replace("│", " ").split())
    assert "default: $5 and 2000000 tokens when neither budget is given" in flat


def test_a_signal_stops_after_the_cycle_and_the_run_resumes(tmp_path: Path) -> None:
    asked: list[int] = []

    def interrupting(body: dict[str, Any]) -> Step:
        asked.append(1)
        if len(asked) == 2:  # during the second decision, at cycle 5
            os.kill(os.getpid(), signal.SIGINT)
        return answer(stance="buy", target_weight_pct=50, confidence_pct=90)

    with fake_llm(interrupting) as server:
        desk = Desk(tmp_path, server)
        team = bull_and_quants(desk)
        code, out, err = desk.trade("--team", str(team), *WINDOW, "--run-id", "run-s")
        assert code == 0, err
        assert "stopped after cycle 5 (SIGINT received); resume: tradepit trade --resume run-s" in (
            err
        )
        store = desk.store()
        assert len(store.cycles("run-s")) == 6
        code, out, err = desk.trade("--resume", "run-s", "--json")
        assert code == 0, err
        assert json.loads(out)["status"] == "finished"
        assert len(store.cycles("run-s")) == CYCLES
        store.close()
        assert len(server.requests) == 6


# A process that holds a run's lease until its standard input closes (or it is killed).
HOLDER = """
import sys
from trading.clock import LiveClock
from trading.storage import Store
from trading.storage_lease import RunLeases
store = Store(sys.argv[1])
lease = RunLeases(store.engine, LiveClock()).take(sys.argv[2])
print("held", flush=True)
sys.stdin.read()
lease.release()
"""


def test_resuming_a_run_another_process_holds_is_one_line_naming_it_until_it_dies(
    tmp_path: Path,
) -> None:
    desk = Desk(tmp_path, None)
    team = desk.team({"name": "quants", "mode": "vote", "decide_every": 2, "members": QUANTS})
    code, _, err = desk.trade("--team", str(team), *WINDOW, "--run-id", "run-h")
    assert code == 0, err
    with subprocess.Popen(  # noqa: S603 - our own interpreter running our own code
        [sys.executable, "-c", HOLDER, desk.db, "run-h"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        try:
            assert holder.stdout.readline() == "held\n"
            code, out, err = desk.trade("--resume", "run-h")
            assert code == 2
            assert err.startswith(
                f"error: run 'run-h' is held by {socket.gethostname()}:{holder.pid} since "
            )
            assert err.endswith("; stop it first\n")
            assert err.count("\n") == 1
            assert out == ""
        finally:
            holder.kill()  # dies holding it: no release
            holder.wait(timeout=30)
    # Its holder is gone from this host, so the lease is stale and taken over.
    code, out, err = desk.trade("--resume", "run-h", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "finished"


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_database_is_one_line_naming_it_and_exit_code_2(
    tmp_path: Path, damage: str
) -> None:
    desk = Desk(tmp_path, None)
    team = desk.team({"name": "quants", "mode": "vote", "decide_every": 2, "members": QUANTS})
    code, _, err = desk.trade("--team", str(team), *WINDOW, "--run-id", "run-d")
    assert code == 0, err
    path = desk.home / "replay.db"
    if damage == "garbage":
        path.write_bytes(bytes(range(256)) * 64)
    else:
        with path.open("r+b") as file:
            file.truncate(path.stat().st_size // 2)
    for where in ([], ["--db", desk.db]):  # found in the home, or named
        code, out, err = desk.trade("--resume", "run-d", *where)
        assert code == 2, err
        assert err.startswith(f"error: database {desk.db} cannot be used: ")
        assert err.count("\n") == 1
        assert out == ""


def test_resuming_a_run_whose_fills_were_edited_is_one_line_naming_the_cycle(
    tmp_path: Path,
) -> None:
    desk = Desk(tmp_path, None)
    team = desk.team({"name": "quants", "mode": "vote", "decide_every": 2, "members": QUANTS})
    code, _, err = desk.trade("--team", str(team), *WINDOW, "--run-id", "run-f")
    assert code == 0, err
    store = desk.store()
    [first, *_] = [row for row in store.fill_checksums("run-f") if row.trade_ids]
    with store.engine.begin() as connection:
        connection.execute(
            text("UPDATE fills SET fee = '0' WHERE run_id = 'run-f' AND trade_id = :id"),
            {"id": first.trade_ids[0]},
        )
    store.close()
    code, out, err = desk.trade("--resume", "run-f")
    assert code == 2
    assert err.startswith(
        f"error: run 'run-f': cycle {first.cycle}'s fills were changed since they were written: "
        "checksum "
    )
    assert err.count("\n") == 1
    assert out == ""


# ---- what cannot run here ----------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unusable_providers_text(port: int) -> str:
    """The bundled team's aliases, on a provider without its key and a server not running."""
    prices = {"input_per_mtok": "1", "output_per_mtok": "2"}
    return yaml.safe_dump(
        {
            "aliases": {"fast": "paid:small", "local": "nearby:llama"},
            "providers": {
                "paid": {
                    "protocol": "openai",
                    "base_url": "https://llm.invalid/v1",
                    "api_key_env": "TRADEPIT_TEST_ABSENT_KEY",
                    "models": {"small": prices},
                },
                "nearby": {
                    "protocol": "ollama",
                    "base_url": f"http://127.0.0.1:{port}",
                    "models": {"llama": prices},
                },
            },
        }
    )


def unusable_providers(path: Path) -> Path:
    path.write_text(unusable_providers_text(closed_port()))
    return path


def test_without_a_usable_provider_llm_members_are_skipped_and_the_quants_trade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADEPIT_TEST_ABSENT_KEY", raising=False)
    providers = unusable_providers(tmp_path / "providers.yaml")
    code, out, err = invoke("trade", *WINDOW, "--providers", str(providers), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["team"] == "example-desk"  # the bundled team
    assert doc["members"] == ["sma_cross", "momentum"]
    assert [s["member"] for s in doc["skipped"]] == ["bull", "bear"]
    assert "skipped LLM member 'bull'" in err
    assert "set $TRADEPIT_TEST_ABSENT_KEY to enable it" in err
    assert "no server answering at http://127.0.0.1:" in err
    assert doc["llm"]["calls"] == 0
    assert doc["status"] == "finished"


def test_a_team_with_no_member_left_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADEPIT_TEST_ABSENT_KEY", raising=False)
    providers = unusable_providers(tmp_path / "providers.yaml")
    team = tmp_path / "team.yaml"
    team.write_text(yaml.safe_dump({"name": "talkers", "members": [{"spec": spec_fast()}]}))
    code, _, err = invoke("trade", "--team", str(team), *WINDOW, "--providers", str(providers))
    assert code == 2
    assert "no member of team 'talkers' can run here" in err
    assert "TRADEPIT_TEST_ABSENT_KEY" in err
    assert err.count("\n") == 1


def skipping(members: list[dict[str, Any]], **extra: Any) -> Runnable:
    providers = ProvidersConfig.model_validate(
        yaml.safe_load(unusable_providers_text(closed_port()))
    )
    team = TeamConfig.model_validate({"name": "desk", "members": members, **extra})
    return runnable_team(team, providers, lookup=None)


def test_a_team_left_below_its_quorum_runs_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRADEPIT_TEST_ABSENT_KEY", raising=False)
    runnable = skipping([{"spec": spec_fast()}, {"quant": "sma_cross"}])
    assert [m.member_name for m in runnable.config.members] == ["sma_cross"]
    assert [s.member for s in runnable.skipped] == ["solo"]
    [warning] = runnable.warnings
    assert "needs 2 valid theses to act" in warning


def test_a_team_that_can_never_reach_its_quorum_is_noted_at_the_start(tmp_path: Path) -> None:
    desk = Desk(tmp_path, None)
    lonely = desk.team({"name": "lonely", "decide_every": 10, "members": [QUANTS[0]]})
    code, out, err = desk.trade("--team", str(lonely), *WINDOW, "--run-id", "r1", "--json")
    assert code == 0, err
    assert "note: team 'lonely' can never act: 1 member votes (sma_cross)" in err
    assert "needs 2 valid theses to act (coordinator.min_agents)" in err
    assert json.loads(out)["fills"] == 0
    code, _, err = desk.trade("--replay", "r1")
    assert code == 0, err
    assert "note: team 'lonely' can never act" in err
    pair = desk.team({"name": "pair", "decide_every": 10, "members": QUANTS}, "pair.yaml")
    code, _, err = desk.trade("--team", str(pair), *WINDOW)
    assert code == 0, err
    assert "can never act" not in err


def test_a_skipped_judge_or_an_emptied_step_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRADEPIT_TEST_ABSENT_KEY", raising=False)
    judge = {"spec": {**spec_fast(), "name": "pm", "role": "portfolio_manager"}}
    with pytest.raises(ConfigError, match=r"its judge 'pm' cannot run here: .*ABSENT_KEY"):
        skipping([{"quant": "sma_cross"}, {"quant": "momentum"}], mode="judge", judge=judge)
    steps = [
        {"name": "talk", "kind": "theses", "members": ["solo"]},
        {"name": "trend", "kind": "theses", "members": ["sma_cross"]},
        {"name": "merge", "kind": "merge", "after": ["talk", "trend"]},
    ]
    with pytest.raises(ConfigError, match=r"without \['solo'\] .* is not a valid team"):
        skipping([{"spec": spec_fast()}, {"quant": "sma_cross"}], steps=steps)


def spec_fast() -> dict[str, Any]:
    return {"name": "solo", "role": "bull", "model": "fast"}


BAD_TEAM = {"name": "desk", "members": [{"quant": "sma_cross", "colour": "red"}]}


def test_daily_bars_are_dated_by_their_session_not_their_midnight_close(tmp_path: Path) -> None:
    # It printed the period 2008-12-02 to 2009-01-01 and decisions "on" Saturdays: the close
    # stamp of a daily bar is midnight UTC of the next day.
    desk = Desk(tmp_path, None)
    team = desk.team({"name": "q", "members": [{"quant": "sma_cross"}], "decide_every": 1})
    window = ["--symbols", "SPX", "--start", "2008-12-01", "--end", "2008-12-31"]
    code, out, err = desk.trade("--team", str(team), *window, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["start"], doc["end"]) == ("2008-12-01", "2008-12-31")
    days = [date.fromisoformat(d["as_of"]) for d in doc["decisions"]]
    assert days[0] == date(2008, 12, 1)
    assert all(d.weekday() < 5 and d != date(2008, 12, 25) for d in days)
    code, out, _ = desk.trade("--team", str(team), *window)
    assert code == 0
    assert "2008-12-01 to 2008-12-31" in out
    assert "2008-12-24 " in out
    assert "2008-12-27" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--team", "{bad}"], "member 'sma_cross' (#1): colour: unknown field"),
        (["--team", "{missing}"], "cannot read the team file"),
        (["--team", "{unpriced}"], "member 'solo': model reference 'nowhere:model': unknown"),
        (["--symbols", "NOPE"], "NOPE"),
        (["--start", "2008-13-01"], "--start takes a date as YYYY-MM-DD, got '2008-13-01'"),
        (["--start", "2008-10-01", "--end", "2008-09-01"], "is after --end"),
        (["--start", "1990-01-01", "--end", "1990-02-01"], "no SPX bars between"),
        (["--events", "xml"], "--events takes jsonl, got 'xml'"),
        (["--resume", "nope"], "no run 'nope' in the database"),
        (["--resume", "r", "--cash", "5"], "--cash cannot change it"),
        (["--resume", "r", "--replay", "r"], "pick one"),
        (["--budget-usd", "-1"], "--budget-usd must be a finite number"),
        (["--fee-bps", "1e9"], "--fee-bps must be at least 0 and at most 1000, got 1E+9"),
        (["--stop-loss", "1"], "--stop-loss must be above 0 and below 1, got 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    bad_team = tmp_path / "bad.yaml"
    bad_team.write_text(yaml.safe_dump(BAD_TEAM))
    unpriced = tmp_path / "unpriced.yaml"
    solo = {**spec_fast(), "model": "nowhere:model"}
    unpriced.write_text(yaml.safe_dump({"name": "desk", "members": [{"spec": solo}]}))
    args = [
        a.format(bad=bad_team, missing=tmp_path / "missing.yaml", unpriced=unpriced) for a in args
    ]
    err = bad("trade", *args)
    assert message in err
    assert err.startswith("error: ")
    assert err.count("\n") == 1


def test_debate_show_prints_abstentions_refused_attempts_and_a_failed_step() -> None:
    refused = {"reply": "buy buy buy", "tools": [], "error": "answer: Invalid JSON"}
    transcript = {
        "team": "desk",
        "time": "2008-09-17T00:00:00+00:00",
        "symbols": ["SPX"],
        "steps": [
            {
                "name": "analysts",
                "kind": "theses",
                "status": "done",
                "turns": [
                    {
                        "agent": "bull",
                        "symbol": "SPX",
                        "attempts": [refused, refused, refused],
                        "outcome": {
                            "agent": "bull",
                            "symbol": "SPX",
                            "reason": "no valid thesis after 3 tries: answer: Invalid JSON",
                        },
                    }
                ],
            },
            {
                "name": "debate",
                "kind": "debate",
                "status": "failed",
                "error": "step 'debate' failed: RuntimeError: gone",
            },
        ],
        "decisions": [],
        "llm": {"calls": 3, "cached": 0, "tokens": 90, "usd": "0.00012"},
    }
    console = Console(file=io.StringIO(), width=200)
    print_transcript(console, "r", 5, transcript, None, moment="2008-09-16")
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    for expected in (
        "run r, cycle 5: team desk",
        "as of 2008-09-16, symbols SPX",
        "bull on SPX: ABSTAINED: no valid thesis after 3 tries",
        "attempt 3 refused: answer: Invalid JSON",
        "step debate (debate): failed",
        "step 'debate' failed: RuntimeError: gone",
        "LLM: 3 calls (0 from the cache), 90 tokens, $0.00012",
    ):
        assert expected in shown, expected


def test_debate_show_prints_each_attempts_reply_and_the_tools_of_one_that_timed_out() -> None:
    # 19 characters a sentence: a 400-character cut at a character would split a figure.
    reply = " ".join(f"close {1213 + n}.60," for n in range(60))
    timed_out = {
        "reply": "",
        "tools": [{"name": "get_market_summary", "arguments": {"symbols": ["SPX"]}}],
        "error": "no model answered: local:primary ProviderUnreachable: no answer within 5 s",
        "answered": False,
    }
    turn = {
        "agent": "bull",
        "symbol": "SPX",
        "attempts": [{"reply": reply, "tools": [], "error": "answer: Invalid JSON"}, timed_out],
        "outcome": {"agent": "bull", "symbol": "SPX", "reason": timed_out["error"]},
    }
    transcript = {
        "team": "desk",
        "symbols": ["SPX"],
        "steps": [{"name": "analysts", "kind": "theses", "status": "done", "turns": [turn]}],
        "decisions": [],
        "llm": {},
    }
    console = Console(file=io.StringIO(), width=100)
    print_transcript(console, "r", 0, transcript, None, moment="2008-09-16")
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    [line] = [ln for ln in shown.splitlines() if "attempt 1 reply: " in ln]
    text = line.split("attempt 1 reply: ")[1]
    head, rest = text.split(" (")
    assert rest == f"{len(reply) - len(head)} more chars; --json shows all)"
    assert reply.startswith(head)
    assert 380 <= len(head) <= 400
    words = head.split()
    assert words == reply.split()[: len(words)]  # whole figures and words only
    assert "attempt 1 refused: answer: Invalid JSON" in shown
    assert 'tool get_market_summary({"symbols": ["SPX"]})' in shown
    assert "attempt 2: no model answered" in shown


@pytest.mark.parametrize(
    "reply",
    [
        json.dumps(
            [{"close": 1213.6 + n, "weight": -0.45} for n in range(40)], separators=(",", ":")
        ),
        "x" * 450 + " tail",
    ],
    ids=["minified JSON", "one long token"],
)
def test_a_shortened_reply_never_ends_inside_a_figure(reply: str) -> None:
    head, _, rest = shortened(reply).partition(" (")
    assert rest == f"{len(reply) - len(head)} more chars; --json shows all)"
    assert reply.startswith(head)
    following = reply[len(head)]
    assert not (head[-1].isalnum() and (following.isalnum() or following in ".,"))
    assert head[-1] not in ".-"


# ---- the live view -------------------------------------------------------------------------------


def test_the_live_view_shows_progress_money_the_latest_decision_and_llm_spend() -> None:
    transcript = {
        "time": "2008-09-17T00:00:00+00:00",
        "decisions": [
            {
                "symbol": "SPX",
                "action": "buy",
                "target_weight": 0.5444,
                "consensus": 0.72,
                "confidence": 0.61,
                "dissent": [{"agent": "bear", "stance": "hold", "share": 0.28}],
            }
        ],
    }
    latest: list[dict[str, Any] | None] = [transcript]
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    view = LiveView(
        console,
        title="desk: run r",
        transcript=lambda: latest[0],
        spend=lambda: LlmSpend(calls=8, cached=2, tokens=240, usd=Decimal("0.00032")),
    )
    view(progress(cycle=10, fills=1))
    latest[0] = None  # between decisions the last one stays on screen
    view(progress(cycle=11, fills=0))
    console.print(view.render())
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    for expected in (
        "12/28",
        "2008-09-17",
        "101,234.50",
        "fills",
        "latest decision (cycle 10, 2008-09-16)",
        "buy",
        "+0.544",
        "72%",
        "bear (hold, 28%)",
        "8 calls (2 cached), 240 tokens, $0.0003",
    ):
        assert expected in shown, expected


def progress(cycle: int, fills: int) -> ProgressEvent:
    return ProgressEvent(
        run_id="r",
        step=cycle + 1,
        total=CYCLES,
        message="",
        cycle=cycle,
        time=datetime(2008, 9, 7 + cycle, tzinfo=UTC),
        as_of=f"2008-09-{6 + cycle:02d}",
        equity=Decimal("101234.50"),
        cash=Decimal("45000.00"),
        fills=fills,
    )
