"""`tradepit kraken`: check the API keys before anything else, and read a live quote.

The Kraken base URL is Kraken's own unless $TRADEPIT_KRAKEN_URL (or `--url`) names another,
such as a local test server. Keys come only from $KRAKEN_API_KEY and $KRAKEN_API_SECRET.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from orchestration.cli.common import JsonFlag, clean_errors, command_group, stdout

EXIT_CHECK_FAILED = 1

kraken_app = command_group("Kraken: check your API keys (placing nothing) and read live quotes.")

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Kraken API base URL; default $TRADEPIT_KRAKEN_URL, else Kraken."),
]
ThrottleFlag = Annotated[
    bool,
    typer.Option(
        "--throttle/--no-throttle",
        help="Pace requests to Kraken's public rate limit (off only for a local test server).",
    ),
]


def _url(url: str | None) -> str:
    from trading.kraken import base_url_from_env

    return url.rstrip("/") if url else base_url_from_env()


@kraken_app.command("check")
@clean_errors
def check(as_json: JsonFlag = False, url: UrlOption = None, throttle: ThrottleFlag = True) -> None:
    """Whether the Kraken keys are set, valid and unable to withdraw; places nothing.

    Reads $KRAKEN_API_KEY and $KRAKEN_API_SECRET and asks Kraken two read-only questions
    (GetApiKeyInfo, WithdrawMethods). Exit code 0 when the keys are fit to trade with, 1 when
    they are missing, invalid or can withdraw.
    """
    from trading.kraken import check_keys

    result = check_keys(base_url=_url(url), rate_limit=throttle)
    if as_json:
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "present": result.present,
                    "valid": result.valid,
                    "can_withdraw": result.can_withdraw,
                    "key_name": result.key_name,
                    "permissions": list(result.permissions)
                    if result.permissions is not None
                    else None,
                    "problems": list(result.problems),
                },
                indent=2,
            )
        )
    else:
        for line in result.lines():
            stdout.print(line, markup=False, highlight=False)
        verdict = "[green]ok: fit to trade[/]" if result.ok else "[red]not fit to trade[/]"
        stdout.print(verdict)
    if not result.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


@kraken_app.command("ticker")
@clean_errors
def ticker(
    symbol: Annotated[str, typer.Argument(help="A Kraken pair: BTC/USD, XBTUSD or XXBTZUSD.")],
    as_json: JsonFlag = False,
    url: UrlOption = None,
    throttle: ThrottleFlag = True,
) -> None:
    """Best bid and ask with their sizes, and the last price, of one pair (no key needed)."""
    from trading.clock import LiveClock
    from trading.kraken import KrakenClient, KrakenMarketData, RetryPolicy

    # One retry, a second apart: a person is waiting, and a host that cannot be reached says
    # so in a second or two instead of after 15 s of backoff.
    retry = RetryPolicy(attempts=2, first_delay_s=1.0)
    client = KrakenClient(base_url=_url(url), rate_limit=throttle, retry=retry)
    try:
        quote = KrakenMarketData(client, LiveClock()).ticker(symbol)
    finally:
        client.close()
    if as_json:
        row = {
            "symbol": quote.symbol,
            "time": quote.time.isoformat(),
            "bid": str(quote.bid),
            "bid_size": str(quote.bid_size),
            "ask": str(quote.ask),
            "ask_size": str(quote.ask_size),
            "last": str(quote.last),
        }
        print(json.dumps(row, indent=2))
        return
    stdout.print(
        f"{quote.symbol}  bid {quote.bid} ({quote.bid_size})  ask {quote.ask} ({quote.ask_size})"
        f"  last {quote.last}",
        markup=False,
        highlight=False,
    )
