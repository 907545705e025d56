"""Orchestration: the decision cycle over time, and the `tradepit` command line.

cli/         the `tradepit` command line: the root app, one module per command group, and
             the trade command's setup, Kraken, report and live view
team/        a team of members: its YAML config, the runtime (debate orchestrator), the
             coordinator and the track record
loop         the durable trading loop: a cycle at a time, committed before the next
live/        venue loops: a live cycle source and the Kraken loop's assembly
resume       reading a durable run back; recorded: the executor its rebuild replays fills on
runs         every run in a run database, listed, summarised and deleted
events       typed progress events and their JSON-lines sink
arena/       competitions of entrants on identical history
evolution/   genetic search over agent specs, adopted only out of sample
teams/       the bundled example team (default.yaml)
"""
