"""`tradepit trade` on the bundled stock universe: a team of cross-sectional quant members
trades it, and the run says, at its start and in every report of it, that the universe is
survivorship-biased and fills at the close."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.orchestration.cli.test_trade import invoke
from trading.data.universe import CLOSE_ONLY_NOTE, SURVIVORSHIP_NOTE

TEAM = {
    "name": "universe-quant",
    "mode": "vote",
    "members": [{"quant": "equal_weight"}, {"quant": "xs_momentum"}],
}
WINDOW = ["--symbols", "AAPL,MSFT,KO", "--start", "2015-01-01", "--end", "2015-06-30"]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))


def test_a_team_of_cross_sectional_members_trades_the_universe_and_says_what_it_is(
    tmp_path: Path,
) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(yaml.safe_dump(TEAM), encoding="utf-8")
    code, out, err = invoke("trade", "--team", str(team), *WINDOW, "--json")
    assert code == 0, err
    assert f"note: {SURVIVORSHIP_NOTE}" in err
    document = json.loads(out)
    assert document["data_notes"] == [SURVIVORSHIP_NOTE, CLOSE_ONLY_NOTE]
    assert document["fills"] > 0
    code, out, _ = invoke("trade", "--replay", document["run_id"])
    assert code == 0
    assert f"data: {SURVIVORSHIP_NOTE}" in out
