"""Orchestration: the decision cycle over time (replay now; debate, arena and evolution build on
it) and the `tradepit` command line."""
