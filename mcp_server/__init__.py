"""The MCP server exposing tradepit's tools to LLM clients (stdio and streamable HTTP)."""

# The `_meta` key of a tool call to tradepit's own stdio server (`mcp_server.run_clock`) that
# carries the run's decision time: the call moves the server's clock itself, so no request
# of its own is needed to move it.
NOW_META = "tradepit/now"
