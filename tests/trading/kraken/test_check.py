"""`check_keys`: present, valid, unable to withdraw, and nothing placed to find out."""

from __future__ import annotations

from tests.fakes.kraken_server import FULL_TRADING, FakeKraken, Reply
from tests.trading.kraken.conftest import API_KEY, SECRET, WRONG_SECRET
from trading.kraken import KeyCheck, RetryPolicy, check_keys


def env(key: str = API_KEY, secret: str = SECRET) -> dict[str, str]:
    return {"KRAKEN_API_KEY": key, "KRAKEN_API_SECRET": secret}


def check(kraken: FakeKraken, environ: dict[str, str]) -> KeyCheck:
    return check_keys(environ=environ, base_url=kraken.url, rate_limit=False)


def test_a_valid_trading_key_without_withdrawal_permission_is_fit_to_trade(
    kraken: FakeKraken,
) -> None:
    result = check(kraken, env())
    assert result.ok
    assert (result.present, result.valid, result.can_withdraw) == (True, True, False)
    assert result.permissions == FULL_TRADING
    assert kraken.calls("WithdrawMethods")[0].outcome == "error_permission_denied"


def test_checking_places_and_withdraws_nothing(kraken: FakeKraken) -> None:
    check(kraken, env())
    assert {r.endpoint for r in kraken.requests} == {"GetApiKeyInfo", "WithdrawMethods"}


def test_a_key_that_can_withdraw_is_not_fit_to_trade(kraken: FakeKraken) -> None:
    kraken.add_key("WITHDRAWER", SECRET, (*FULL_TRADING, "withdraw-funds"))
    result = check(kraken, env(key="WITHDRAWER"))
    assert not result.ok
    assert result.can_withdraw is True
    assert "can withdraw funds" in result.problems[0]


def test_missing_keys_are_reported_without_asking_kraken(kraken: FakeKraken) -> None:
    result = check(kraken, {})
    assert not result.ok
    assert result.present is False
    assert "KRAKEN_API_KEY" in result.problems[0]
    assert kraken.requests == []


def test_half_a_key_pair_names_the_missing_variable(kraken: FakeKraken) -> None:
    result = check(kraken, {"KRAKEN_API_KEY": API_KEY})
    assert result.problems == (
        "$KRAKEN_API_SECRET is not set: Kraken needs both $KRAKEN_API_KEY and $KRAKEN_API_SECRET",
    )


def test_a_wrong_secret_is_reported_invalid(kraken: FakeKraken) -> None:
    result = check(kraken, env(secret=WRONG_SECRET))
    assert result.valid is False
    assert "EAPI:Invalid signature" in result.problems[0]


def test_a_secret_that_is_not_base64_is_refused_without_showing_it(kraken: FakeKraken) -> None:
    garbled = "not base64 at all!"
    result = check(kraken, env(secret=garbled))
    # Both keys are set: they are present, and the secret is no key ("keys present: no" it said).
    assert (result.present, result.valid, result.ok) == (True, False, False)
    assert result.lines()[:2] == [
        "keys present: yes ($KRAKEN_API_KEY, $KRAKEN_API_SECRET)",
        "keys valid: no",
    ]
    assert "not base64" in result.problems[0]
    assert garbled not in result.problems[0]
    assert not kraken.requests  # nothing was asked of Kraken with a secret that is no key


def test_an_unreachable_kraken_gives_no_verdict_rather_than_a_wrong_one(kraken: FakeKraken) -> None:
    kraken.script("GetApiKeyInfo", *[Reply("error_service_unavailable")] * 2)
    waits: list[float] = []
    result = check_keys(
        environ=env(),
        base_url=kraken.url,
        rate_limit=False,
        retry=RetryPolicy(attempts=2),
        sleep=waits.append,
    )
    assert not result.ok
    assert (result.valid, result.can_withdraw) == (None, None)
    assert "could not ask Kraken" in result.problems[0]
    assert "EService:Unavailable" in result.problems[0]
    assert waits == [1.0]


def test_without_get_api_key_info_the_key_is_proved_by_balance(kraken: FakeKraken) -> None:
    kraken.script("GetApiKeyInfo", Reply("error_unknown_method"))
    result = check(kraken, env())
    assert result.ok
    assert result.permissions is None
    assert [r.endpoint for r in kraken.requests] == ["GetApiKeyInfo", "Balance", "WithdrawMethods"]
