"""The core of tradepit: domain types, clock, point-in-time market data, ledger, executors,
risk gate, performance metrics and storage. Nothing here imports from the other packages."""
