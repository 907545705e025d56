"""A team of LLM and quant members that decides as one.

config        the team declared in YAML: members, mode (vote, debate, judge) or a graph of steps
runtime       the debate orchestrator: runs the graph on one snapshot, gives one decision a symbol
coordinator   merges the members' theses by confidence and track record (CoordinationError)
track_record  each member's record of calls, scored on later closes
"""
