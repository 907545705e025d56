"""Trading on a live venue: the durable loop's cycles come as time passes, not from history.

source   LiveSource: a cycle every N seconds or on each new closed bar, on an injected clock
kraken   the Kraken loop's assembly behind `tradepit trade --source kraken` (paper on the
         live book, validate-only or live orders), new and resumed
"""
