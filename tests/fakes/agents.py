"""What agent tests share: a providers file pointing at a loopback model, and valid answers."""

from __future__ import annotations

import json
from typing import Any

from agents.providers import ProvidersConfig
from tests.fakes.llm_server import FakeLlm


def loopback_providers(server: FakeLlm, api_key_env: str | None = None) -> ProvidersConfig:
    """`local:primary` and `local:backup` speak OpenAI chat completions, `claude:claude-test`
    Anthropic messages, all at $1/M prompt and $2/M completion tokens; with `api_key_env`
    both send the key in that variable."""
    prices = {"input_per_mtok": "1.00", "output_per_mtok": "2.00"}
    return ProvidersConfig.model_validate(
        {
            "providers": {
                "local": {
                    "protocol": "openai",
                    "base_url": server.openai_url,
                    "key_required": False,
                    "api_key_env": api_key_env,
                    "models": {"primary": prices, "backup": prices},
                },
                "claude": {
                    "protocol": "anthropic",
                    "base_url": server.anthropic_url,
                    "key_required": False,
                    "api_key_env": api_key_env,
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
