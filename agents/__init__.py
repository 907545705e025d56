"""Agents: anything that turns a point-in-time snapshot into target positions: quant baselines
and LLM agents behind the same interface.

    specs       the agent spec (the evolvable genome) and the typed thesis
    quant       quant baseline agents
    llm_agent   an LLM agent on agno: tools, re-asks, abstains
    manager     saved agents (`tradepit agents ...`)
    providers   providers.yaml, typed; availability: whether a provider is usable here, and a
                real check call
    gateway     the one door for every model call (recordings, budget, cost log, limits);
                door: the httpx transport under the SDKs; models: agno's SDK-backed model
                classes; llm_calls, usage, turn_counts: its records
    structured  how a model is held to the answer's schema; tool_probe: whether it calls tools
    prompts     the roles' prompts
"""

import os

# Set before anything imports litellm or agno (agno imports litellm at import time): litellm
# would fetch its price map from the internet, and agno would send telemetry. Prices come from
# providers.yaml; a user who wants either may still set these variables.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("AGNO_TELEMETRY", "false")
