"""What agent tests share: a providers file pointing at a loopback model, and valid answers."""

from __future__ import annotations

import json
from typing import Any

from agents.providers import ProvidersConfig
from tests.fakes.llm_server import FakeLlm

HOSTED_KEY_ENV = "TRADEPIT_TEST_LLM_KEY"


def loopback_providers(server: FakeLlm, api_key_env: str | None = None) -> ProvidersConfig:
    """`local:primary` and `local:backup` speak OpenAI chat completions, `claude:claude-test`
    Anthropic messages, all at $1/M prompt and $2/M completion tokens; with `api_key_env`
    both send the key in that variable. They count as local servers (no key required), with
    the limits a local server gets lifted (the scripted model answers many at once, at once).
    `hosted:primary` and `hosted:backup` (OpenAI chat completions, and `hosted-claude:claude-
    test`) count as hosted providers, with their key in $TRADEPIT_TEST_LLM_KEY or
    `api_key_env`: their timeouts are retried."""
    prices = {"input_per_mtok": "1.00", "output_per_mtok": "2.00"}
    lifted = {"concurrency": 64, "tokens_per_s": 1e12}
    hosted_env = api_key_env or HOSTED_KEY_ENV
    return ProvidersConfig.model_validate(
        {
            "providers": {
                "local": {
                    "protocol": "openai",
                    "base_url": server.openai_url,
                    "key_required": False,
                    "api_key_env": api_key_env,
                    "models": {"primary": prices, "backup": prices},
                    **lifted,
                },
                "claude": {
                    "protocol": "anthropic",
                    "base_url": server.anthropic_url,
                    "key_required": False,
                    "api_key_env": api_key_env,
                    "models": {"claude-test": prices},
                    **lifted,
                },
                "hosted": {
                    "protocol": "openai",
                    "base_url": server.openai_url,
                    "api_key_env": hosted_env,
                    "models": {"primary": prices, "backup": prices},
                },
                "hosted-claude": {
                    "protocol": "anthropic",
                    "base_url": server.anthropic_url,
                    "api_key_env": hosted_env,
                    "models": {"claude-test": prices},
                },
            }
        }
    )


def thesis_json(**change: Any) -> str:
    """A valid thesis reply (`ThesisReply`) on SPX citing get_market_summary; `change`
    overrides fields."""
    thesis: dict[str, Any] = {
        "symbol": "SPX",
        "stance": "buy",
        "confidence_pct": 70,
        "target_weight_pct": 50,
        "horizon_days": 20,
        "rationale": "The index bounced off its lows.",
        "evidence": [{"tool": "get_market_summary", "detail": "close 1213.60"}],
    }
    thesis.update(change)
    return json.dumps(thesis)


def portfolio_json(
    symbols: list[str] | tuple[str, ...],
    weights: dict[str, int] | None = None,
    **change: Any,
) -> str:
    """A valid portfolio reply (`PortfolioThesisReply`) over `symbols` citing the prompt: a
    buy at `weights[symbol]` percent where given, a hold elsewhere; `change` overrides fields."""
    weights = weights or {}
    views = [
        {
            "symbol": symbol,
            "stance": "buy" if weights.get(symbol, 0) > 0 else "hold",
            "confidence_pct": 60,
            "target_weight_pct": weights.get(symbol, 0),
            "rationale": f"{symbol} trends up." if weights.get(symbol) else "No edge.",
            "evidence": [{"tool": "prompt", "detail": f"{symbol} ret_63d in the table"}],
        }
        for symbol in symbols
    ]
    reply: dict[str, Any] = {"horizon_days": 21, "rationale": "Trend leaders.", "views": views}
    reply.update(change)
    return json.dumps(reply)
