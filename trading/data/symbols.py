"""Looking a symbol up among those a source offers, the same way for every source: symbols are
matched without regard to case, and one that is not offered is an `UnknownSymbolError` that
lists what is."""

from __future__ import annotations

from collections.abc import Collection

from trading.errors import UnknownSymbolError


def known_symbol(symbol: str, available: Collection[str], source: str | None = None) -> str:
    """`symbol` as `available` spells it (upper case). Raises `UnknownSymbolError` naming the
    symbol, the `source` when given, and the available symbols (sorted)."""
    key = symbol.upper()
    if key not in available:
        where = f" in {source}" if source else ""
        raise UnknownSymbolError(
            f"unknown symbol {symbol!r}{where}; available: {', '.join(sorted(available))}"
        )
    return key
