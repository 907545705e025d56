"""`tradepit trade --source kraken` end to end, in-process, against the loopback Kraken fake: a
quant team trades on paper at the book with Kraken's fees, validate-only orders place nothing,
live orders need both keys and say so, a stopped run resumes where it stopped, and options that
mean nothing on Kraken are one clear line.

The command runs on the wall clock (a CLI has no clock to inject), so the fake's "now" follows
it, and each run is two or three cycles a second apart (a cycle comes at least a second after
the one before): a few seconds a test.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from orchestration.cli.trade_run import EXIT_BUDGET
from tests.fakes.agents import loopback_providers, thesis_json
from tests.fakes.kraken_server import FakeKraken, Tape
from tests.fakes.llm_server import Say, fake_llm
from tests.orchestration.cli.helpers import bad, invoke
from tests.trading.kraken.conftest import API_KEY, SECRET
from trading.storage import Store

ASK = Decimal("30300.1")  # the Depth fixture's best ask
TAKER = Decimal("0.004")  # the AssetPairs fixture's first fee tier, 0.4%
BTC = "BTC/USD"
HOUR = 3600
PRIVATE = {"AddOrder", "Balance", "BalanceEx", "OpenOrders", "ClosedOrders", "QueryOrders"}


class WallClockKraken(FakeKraken):
    """The fake on the wall clock: its "now" is the time the command's live clock reads."""

    @property
    def now(self) -> int:
        return int(time.time())

    @now.setter
    def now(self, value: int) -> None:
        del value  # the base class sets a start time; the wall clock is the only time here


@pytest.fixture
def kraken(monkeypatch: pytest.MonkeyPatch) -> Iterator[WallClockKraken]:
    for name in ("KRAKEN_API_KEY", "KRAKEN_API_SECRET", "TRADEPIT_KRAKEN_URL"):
        monkeypatch.delenv(name, raising=False)
    start = int(time.time())
    # A BTC/USD trade a minute around the book's prices, from six hours back to an hour on.
    tape = Tape.synthetic("XXBTZUSD", start - 6 * HOUR, start + HOUR, 60, base="30300.0")
    server = WallClockKraken(start, tape)
    server.start()
    server.add_key(API_KEY, SECRET)
    try:
        yield server
    finally:
        server.stop()
    assert not server.errors, server.errors


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def with_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAKEN_API_KEY", API_KEY)
    monkeypatch.setenv("KRAKEN_API_SECRET", SECRET)


def holder(tmp_path: Path) -> Path:
    """A team of one quant member that buys on its first decision and holds."""
    path = tmp_path / "team.yaml"
    team = {
        "name": "holder",
        "mode": "vote",
        "decide_every": 1,
        "coordinator": {"min_agents": 1},
        "members": [{"quant": "buy_and_hold"}],
    }
    path.write_text(yaml.safe_dump(team))
    return path


def trade(kraken: FakeKraken, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """`tradepit trade --source kraken` on the fake with the holder team, a cycle a second."""
    common = ["--source", "kraken", "--team", str(holder(tmp_path)), "--symbols", BTC]
    common += ["--every", "0.05", "--history-bars", "30", "--url", kraken.url, "--no-throttle"]
    return invoke("trade", *common, *args)


def private_calls(kraken: FakeKraken) -> list[str]:
    return [r.endpoint for r in kraken.requests if r.endpoint in PRIVATE]


def test_a_quant_team_trades_kraken_on_paper_filling_at_the_ask_with_kraken_fees(
    kraken: WallClockKraken, home: Path, tmp_path: Path
) -> None:
    code, out, err = trade(kraken, tmp_path, "--max-cycles", "2", "--run-id", "k1", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["status"], doc["cycles"], doc["total"]) == ("finished", 2, 2)
    assert (doc["source"], doc["mode"], doc["symbols"]) == ("kraken", "paper", [BTC])
    assert doc["initial_cash"] == "10000"
    assert doc["fills"] == 1
    assert private_calls(kraken) == []  # paper sends nothing to Kraken and needs no key

    store = Store(f"sqlite:///{home / 'paper.db'}")  # paper runs keep to their own database
    [fill] = store.fills("k1")
    run = store.run("k1")
    store.close()
    assert not (home / "live.db").exists()
    assert (fill.side, fill.price, fill.liquidity) == ("buy", ASK, "taker")
    assert fill.fee == fill.quantity * ASK * TAKER
    assert Decimal(doc["final_cash"]) == Decimal(10_000) - fill.quantity * ASK - fill.fee
    assert run is not None
    assert run.config["meta"]["kraken"]["every_s"] == 0.05
    assert run.config["meta"]["team"]["name"] == "holder"

    err = bad("trade", "--replay", "k1")
    assert "run 'k1' traded on Kraken, whose live book cannot be asked again" in err


def test_validate_sends_addorder_with_validate_true_and_places_nothing(
    kraken: WallClockKraken, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_keys(monkeypatch)
    balances, open_orders = dict(kraken.balances), kraken.open_orders()
    code, out, err = trade(
        kraken, tmp_path, "--validate", "--max-cycles", "2", "--run-id", "v1", "--json"
    )
    assert code == 0, err
    [sent] = kraken.calls("AddOrder")
    assert sent.params["validate"] == "true"
    assert kraken.balances == balances
    assert kraken.open_orders() == open_orders
    doc = json.loads(out)
    assert (doc["mode"], doc["fills"]) == ("validate", 0)

    # With keys, orders and their journal live apart from paper runs.
    store = Store(f"sqlite:///{home / 'live.db'}")
    orders = store.orders("v1")
    store.close()
    assert not (home / "paper.db").exists()
    assert [(o.status, "validate only" in o.reason) for o in orders] == [("canceled", True)]
    stored = (home / "live.db").read_bytes()
    for secret in (API_KEY, SECRET):
        assert secret not in out + err
        assert secret.encode() not in stored


def test_live_without_keys_is_exit_2_naming_both_variables_before_anything_opens(
    kraken: WallClockKraken, home: Path, tmp_path: Path
) -> None:
    code, out, err = trade(kraken, tmp_path, "--live", "--max-cycles", "2")
    assert code == 2
    assert err.startswith("error: ")
    assert "KRAKEN_API_KEY and KRAKEN_API_SECRET" in err
    assert out == ""
    assert kraken.requests == []
    assert not (home / "live.db").exists()


def test_live_warns_places_one_real_order_and_resumes_only_with_live_again(
    kraken: WallClockKraken, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_keys(monkeypatch)
    code, out, err = trade(kraken, tmp_path, "--live", "--max-cycles", "2", "--run-id", "l1")
    assert code == 0, err
    assert "warning: --live places REAL orders on Kraken" in err
    [sent] = kraken.calls("AddOrder")
    assert "validate" not in sent.params
    store = Store(f"sqlite:///{home / 'live.db'}")
    [fill] = store.fills("l1")  # placed in cycle 0, its fill polled in cycle 1
    store.close()
    assert fill.side == "buy"
    for secret in (API_KEY, SECRET):
        assert secret not in out + err

    resume = ["--resume", "l1", "--url", kraken.url, "--no-throttle"]
    err = bad("trade", *resume)
    assert "run 'l1' places real orders on Kraken; resume it with --live" in err
    err = bad("trade", *resume, "--paper")
    assert "in live mode as it was started; --paper cannot change it" in err
    assert len(kraken.calls("AddOrder")) == 1


def test_paper_wins_over_live_and_says_so(
    kraken: WallClockKraken, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_keys(monkeypatch)
    code, out, err = trade(kraken, tmp_path, "--paper", "--live", "--max-cycles", "2", "--json")
    assert code == 0, err
    assert "note: --paper wins over --live: trading on paper, sending no order" in err
    assert "REAL orders" not in err
    assert json.loads(out)["mode"] == "paper"
    assert private_calls(kraken) == []
    assert not (home / "live.db").exists()


def test_a_run_stopped_by_ctrl_c_resumes_from_its_hint_and_finishes(
    kraken: WallClockKraken, home: Path, tmp_path: Path
) -> None:
    interrupted: list[dict[str, str]] = []

    def interrupt(params: dict[str, str]) -> None:
        # Cycle 0 reads the book to fill its buy: Ctrl-C arrives while it trades.
        if not interrupted:
            interrupted.append(params)
            os.kill(os.getpid(), signal.SIGINT)

    kraken.observers["Depth"] = interrupt
    code, _, err = trade(kraken, tmp_path, "--max-cycles", "3", "--run-id", "s1")
    assert code == 0, err
    assert interrupted
    hint = err.split("resume: ", 1)[1].split()
    assert hint[:5] == ["tradepit", "trade", "--resume", "s1", "--url"]
    store = Store(f"sqlite:///{home / 'paper.db'}")
    assert store.run("s1") is not None
    assert len(store.cycles("s1")) == 1
    [bought] = store.fills("s1")

    del kraken.observers["Depth"]
    code, out, err = invoke(*hint[1:], "--events", "jsonl")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["type"] for e in events] == ["progress", "progress", "progress", "result"]
    assert events[0]["message"].startswith("resumed after cycle 0: 1 committed cycles rebuilt")
    assert [e["cycle"] for e in events[:-1]] == [0, 1, 2]
    assert (events[-1]["status"], events[-1]["cycles"]) == ("finished", 3)
    assert len(store.cycles("s1")) == 3
    # Cycle 0 was rebuilt from its stored fill, and nothing was bought again.
    [fill] = store.fills("s1")
    assert (fill.order_id, fill.quantity, fill.price) == (bought.order_id, bought.quantity, ASK)
    store.close()


def test_an_llm_members_budget_stops_a_kraken_run_and_counts_across_resumes(
    kraken: WallClockKraken, home: Path, tmp_path: Path
) -> None:
    bull = {"name": "bull", "role": "bull", "model": "local:primary", "timeout_s": 5}
    team = {"name": "solo", "mode": "vote", "decide_every": 1, "coordinator": {"min_agents": 1}}
    team_file = tmp_path / "solo.yaml"
    team_file.write_text(yaml.safe_dump({**team, "members": [{"spec": bull}]}))
    evidence = [{"tool": "prompt", "detail": "BTC/USD closed at 30300.1"}]
    thesis = Say(
        thesis_json(symbol=BTC, target_weight_pct=50, confidence_pct=90, evidence=evidence)
    )
    with fake_llm([thesis, thesis, thesis]) as llm:
        providers = tmp_path / "providers.yaml"
        providers.write_text(yaml.safe_dump(loopback_providers(llm).model_dump(mode="json")))
        # An answer costs 30 tokens: the first decision passes the budget of 20.
        code, _, err = trade(
            kraken, tmp_path, "--team", str(team_file), "--providers", str(providers),
            "--max-cycles", "2", "--run-id", "b1", "--budget-tokens", "20",
        )  # fmt: skip
        assert code == EXIT_BUDGET, err
        assert "token budget reached: 30 of 20 tokens spent" in err
        assert "tradepit trade --resume b1 --url" in err

        resume = ["trade", "--resume", "b1", "--url", kraken.url, "--no-throttle"]
        resume += ["--providers", str(providers)]
        # A stopped cycle on Kraken is not asked again at its old moment: the resume's cycle 0
        # is the present, a new question, and the budget counts the first process's tokens.
        code, _, err = invoke(*resume, "--budget-tokens", "50")
        assert code == EXIT_BUDGET, err
        assert "token budget reached: 60 of 50 tokens spent" in err

        code, out, err = invoke(*resume, "--budget-tokens", "1000", "--json")
        assert code == 0, err
        llm.assert_done()
    doc = json.loads(out)
    assert (doc["status"], doc["cycles"], doc["mode"]) == ("finished", 2, "paper")
    assert (doc["llm"]["calls"], doc["llm"]["paid_tokens"]) == (3, 90)
    assert [d["targets"] for d in doc["decisions"]] == [{BTC: "0.500000"}]
    assert doc["fills"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "kraken", "--start", "2024-01-01"], "--start: not for --source kraken"),
        (["--source", "kraken", "--fee-bps", "5"], "--fee-bps: not for --source kraken"),
        (["--source", "kraken", "--every", "0"], "--every takes a positive number of seconds"),
        (["--source", "kraken", "--max-drawdown", "2"], "--max-drawdown must be above 0"),
        (["--every", "60"], "--every: only with --source kraken"),
        (["--live"], "--live: only with --source kraken"),
        (["--source", "nyse"], "--source takes bundled or kraken, got 'nyse'"),
        (["--resume", "r", "--every", "5"], "--every cannot change it"),
        (["--source", "kraken", "--resume", "nope"], "no run 'nope' in the database"),
    ],
)
def test_options_that_do_not_fit_the_source_are_one_line_and_exit_2(
    home: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KRAKEN_API_KEY", "KRAKEN_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    # Nothing answers here: every one of these is refused before Kraken is asked anything.
    monkeypatch.setenv("TRADEPIT_KRAKEN_URL", "http://127.0.0.1:9")
    err = bad("trade", *args)
    assert message in err
    assert err.startswith("error: ")
    assert err.count("\n") == 1


def test_a_bundled_run_neither_resumes_on_kraken_nor_takes_kraken_options(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = ["--symbols", "SPX", "--start", "2008-09-02", "--end", "2008-09-10"]
    code, _, err = invoke("trade", "--team", str(holder(tmp_path)), *window, "--run-id", "b1")
    assert code == 0, err
    err = bad("trade", "--resume", "b1", "--source", "kraken")
    assert "no run 'b1' in the database" in err  # a Kraken resume looks in paper and live
    err = bad("trade", "--resume", "b1", "--live")
    assert "run 'b1' did not trade on Kraken; go on without --live" in err


def test_a_kraken_answer_that_breaks_a_rule_stops_a_live_run_with_one_line(
    kraken: WallClockKraken, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_keys(monkeypatch)

    def pays_the_account(params: dict[str, str]) -> None:
        for order in kraken.orders.values():
            if order.get("cl_ord_id"):
                order["fee"] = "-1000.00000"

    kraken.observers["QueryOrders"] = pays_the_account
    code, _, err = trade(kraken, tmp_path, "--live", "--max-cycles", "3", "--run-id", "l1")

    assert code == 2
    [line] = err.strip().splitlines()[1:]  # after the --live warning
    assert line.startswith("error: Kraken's QueryOrders answer breaks a rule for order 'l1-0-")
    assert "fee='-1000.00000'" in line
    assert "Traceback" not in err
    store = Store(f"sqlite:///{home / 'live.db'}")
    assert store.fills("l1") == []
    assert store.run("l1").status == "failed"
    store.close()
