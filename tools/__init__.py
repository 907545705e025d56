"""Financial tools: typed functions over trading/, used by agents in-process and by MCP clients."""
