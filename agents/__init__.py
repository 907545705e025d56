"""Agents: anything that turns a point-in-time snapshot into target positions: quant baselines
and LLM agents behind the same interface."""

import os

# Set before anything imports litellm or agno (agno imports litellm at import time): litellm
# would fetch its price map from the internet, and agno would send telemetry. Prices come from
# providers.yaml; a user who wants either may still set these variables.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("AGNO_TELEMETRY", "false")
