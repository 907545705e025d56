"""A small finance word list added to VADER's lexicon, on VADER's -4..+4 scale.

Inspired by the Loughran-McDonald finance sentiment dictionary's observation that market
language differs from everyday speech ("crash", "default" and "rescue" mean something else on a
trading floor), but it is not that dictionary nor drawn from it: the words and weights are this
project's own judgement, kept short so that anyone can read every weight that moved a score.

VADER looks words up one at a time, so multi-word terms ("record high") live in a separate
table; the sentiment model joins each phrase into one token before scoring.
"""

from __future__ import annotations

from typing import Final

FINANCE_WORDS: Final[dict[str, float]] = {
    # Falls and stress. Most are absent from VADER, which reads them as neutral.
    "plunge": -2.5,
    "plunges": -2.5,
    "plunged": -2.5,
    "plummet": -2.6,
    "plummets": -2.6,
    "tumble": -2.2,
    "tumbles": -2.2,
    "tumbled": -2.2,
    "slump": -2.0,
    "slumps": -2.0,
    "sink": -1.6,
    "sinks": -1.6,
    "drops": -1.3,
    "fall": -1.3,
    "falls": -1.3,
    "slide": -1.4,
    "slides": -1.4,
    "selloff": -2.2,
    "sell-off": -2.2,
    "rout": -2.5,
    "crash": -3.0,  # VADER: -1.7; a market crash is among the worst things a headline can say
    "crashes": -3.0,
    "collapse": -3.0,
    "collapses": -3.0,
    "collapsing": -3.0,
    "bankruptcy": -3.0,
    "insolvency": -2.8,
    "default": -2.5,
    "defaults": -2.5,
    "downgrade": -2.0,
    "downgrades": -2.0,
    "downgraded": -2.0,
    "recession": -2.5,  # VADER: -1.8
    "layoff": -2.0,
    "layoffs": -2.0,
    "writedown": -2.0,
    "writedowns": -2.0,
    "slowdown": -1.6,
    "downturn": -2.0,
    "correction": -1.2,
    "volatility": -1.0,
    "bearish": -1.8,
    "bailout": -1.5,  # VADER: -0.4
    "rescue": -0.5,  # VADER: +2.3; a company or bank being rescued is in distress
    "rescues": -0.5,  # VADER: +1.3
    "seize": -1.5,
    "seizes": -1.5,
    "seized": -1.5,
    "freezes": -1.8,  # VADER: -0.1; frozen funds or credit, not weather
    "subprime": -1.5,
    "tariffs": -1.0,
    "devalues": -1.5,
    "junk": -1.5,
    "delisted": -2.0,
    # Rises and relief.
    "surge": 2.3,
    "surges": 2.3,
    "surged": 2.3,
    "soar": 2.5,
    "soars": 2.5,
    "soared": 2.5,
    "rally": 2.0,
    "rallies": 2.0,
    "rallied": 2.0,
    "jump": 1.5,
    "jumps": 1.5,
    "jumped": 1.5,
    "rise": 1.2,
    "rises": 1.2,
    "climb": 1.2,
    "climbs": 1.2,
    "rebound": 1.8,
    "rebounds": 1.8,
    "recovery": 1.8,
    "recovers": 1.6,
    "beat": 1.5,
    "beats": 1.5,
    "upgrade": 2.0,
    "upgrades": 2.0,
    "upgraded": 2.0,
    "bullish": 1.8,
    "boom": 2.0,
    "outperform": 1.5,
    "outperforms": 1.5,
    "tops": 1.0,  # VADER: +2.3 ("the tops"); "Dow tops 10,000" is good news, not rapture
    "topping": 1.0,
    "stimulus": 1.0,
    # Ambiguous in markets: rate cuts are usually welcome, job cuts are not (see the phrases).
    "cut": 0.0,  # VADER: -1.1
    "cuts": 0.0,  # VADER: -1.2
    # Plain nouns of finance that VADER reads as praise: "interest rates" or "credit fears" or
    # "Securities and Exchange Commission" carry no tone of their own.
    "credit": 0.0,  # VADER: +1.6
    "interest": 0.0,  # VADER: +2.0
    "interests": 0.0,  # VADER: +1.0
    "share": 0.0,  # VADER: +1.2
    "shares": 0.0,  # VADER: +1.2
    "security": 0.0,  # VADER: +1.4
    "securities": 0.0,  # VADER: +1.2
    "trust": 0.0,  # VADER: +2.3
    "value": 0.0,  # VADER: +1.4
    "united": 0.0,  # VADER: +1.8
}

FINANCE_PHRASES: Final[dict[str, float]] = {
    "record high": 2.0,
    "all-time high": 2.0,
    "record low": -2.0,
    "bull market": 2.0,
    "bear market": -2.0,
    "flash crash": -3.0,
    "files for bankruptcy": -3.0,
    "breaks the buck": -2.5,
    "profit warning": -2.5,
    "margin call": -2.0,
    "job cuts": -2.0,
    "beats estimates": 1.8,
    "misses estimates": -1.8,
    "rate cut": 0.6,
    "rate cuts": 0.6,
    "rate hike": -0.6,
    "rate hikes": -0.6,
}
