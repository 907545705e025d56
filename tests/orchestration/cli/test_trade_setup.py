"""Building a run's gateway and team: the call log is opened only for LLM members, and closed
again when the team fails to build."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.gateway import LlmGateway
from agents.llm_calls import Budget, LlmCallStore
from agents.providers import ProvidersConfig
from orchestration.cli import trade_setup
from orchestration.team.config import TeamConfig
from orchestration.team.runtime import Team
from trading.data import Catalog
from trading.errors import ConfigError

# Nothing listens on port 9 (discard) of loopback: the provider counts as not usable.
SILENT = {
    "providers": {
        "local": {
            "protocol": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "key_required": False,
            "models": {"primary": {"input_per_mtok": 0, "output_per_mtok": 0}},
        }
    }
}


def team(*members: dict[str, object]) -> TeamConfig:
    return TeamConfig.model_validate({"name": "desk", "members": list(members)})


LLM = {"spec": {"name": "bull", "role": "bull", "model": "local:primary", "tools": []}}
QUANT = {"quant": "buy_and_hold"}


class WatchedStore(LlmCallStore):
    closed = 0

    def close(self) -> None:
        WatchedStore.closed += 1
        super().close()


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> type[WatchedStore]:
    WatchedStore.closed = 0
    monkeypatch.setattr(trade_setup, "LlmCallStore", WatchedStore)
    return WatchedStore


def build(
    config: TeamConfig, tmp_path: Path
) -> tuple[LlmCallStore | None, LlmGateway | None, Team]:
    return trade_setup.gateway_and_team(
        config,
        "run-1",
        f"sqlite:///{tmp_path / 'run.db'}",
        lambda _: Budget(),
        catalog=Catalog.default(),
        providers=ProvidersConfig.model_validate(SILENT),
        lookup=None,
    )


def test_a_team_that_fails_to_build_closes_its_call_log(
    tmp_path: Path, watched: type[WatchedStore]
) -> None:
    with pytest.raises(ConfigError, match="no usable model"):
        build(team(LLM, QUANT), tmp_path)
    assert watched.closed == 1


def test_a_quant_team_opens_no_call_log(tmp_path: Path, watched: type[WatchedStore]) -> None:
    calls, gateway, built = build(team(QUANT), tmp_path)
    assert (calls, gateway) == (None, None)
    assert list(built.members) == ["buy_and_hold"]
    assert watched.closed == 0
