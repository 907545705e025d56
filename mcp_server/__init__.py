"""The MCP server exposing tradepit's tools to LLM clients (stdio and streamable HTTP)."""
