"""Agents: anything that turns a point-in-time snapshot into target positions. Quant baselines
live here now; LLM agents join them behind the same interface."""
