"""The core of tradepit: domain types, clock, point-in-time market data, ledger, executors,
risk gate, performance metrics and storage. Nothing here imports from the other packages.

    domain, clock, closed, errors   orders and their events, injected time, the closed pydantic
                                    base, the error roots
    data/                           point-in-time market data: series, sources, the view
    ledger, costs, sizing, risk     money: cash, positions, fees, the risk gate
    executor                        the one executor port; paper: fills from bars; kraken/:
                                    Kraken through ccxt (market data, book paper fills, the
                                    exchange executor, a run's bookkeeping at Kraken)
    decision, strategies            the decision interface and strategy signals
    replay, replay_config           the cycle engine over history; vectorised*: the fast path
                                    where it reproduces the replay exactly
    metrics, stats                  performance metrics and their statistics
    storage*                        the run database
"""
