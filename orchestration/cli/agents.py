"""`tradepit agents`: saved LLM agents, created, listed, shown, updated and removed by name.

The agent manager (agents/manager.py) keeps each agent in `$TRADEPIT_HOME/agents.db` and as
`$TRADEPIT_HOME/agents/NAME.yaml`; this module only turns options into specs and prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, assert_never

import typer
from rich.table import Table
from rich.text import Text

from agents.manager import AgentManager, SavedAgent, load_spec_file, revise, validate_spec
from agents.providers import load_providers
from agents.specs import TOOL_NAMES, Role
from orchestration.cli.common import (
    Home,
    JsonFlag,
    ProvidersFile,
    clean_errors,
    command_group,
    fail,
    print_table,
    stdout,
    tradepit_home,
)
from orchestration.cli.options import option, option_groups
from trading.clock import LiveClock
from trading.config_files import read_yaml
from trading.errors import ConfigError

agents_app = command_group("Saved LLM agents: create, list, show, update and remove them by name.")

NameArgument = Annotated[str, typer.Argument(help="The agent's name: a-z, 0-9, - and _.")]
SpecFile = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="A YAML (or JSON) agent spec, like the files in $TRADEPIT_HOME/agents/.",
    ),
]
Force = Annotated[
    bool, typer.Option("--force", help="Overwrite a YAML file that was edited by hand.")
]
NULLABLE = ("persona", "fallback_model")


@dataclass(frozen=True, slots=True)
class SpecOptions:
    """The spec fields `agents create` and `agents update` both take, as given (None: not
    given). Numbers stay text here: the spec parses and bounds them, so a bad one is one clear
    line."""

    role: str | None = option(f"One of: {', '.join(r.value for r in Role)}.")
    model: str | None = option("provider:model from providers.yaml, or an alias.")
    fallback_model: str | None = option("Used when the model fails or is unusable.")
    temperature: str | None = option("0 to 1.5.")
    max_tokens: str | None = option("64 to 16384 tokens per reply.")
    tools: str | None = option(
        f"Comma-separated, '' for none; from: {', '.join(sorted(TOOL_NAMES))}."
    )
    persona: str | None = option("The system prompt; custom role only.")
    max_weight: str | None = option("Largest |target weight|, 0 to 1.")
    min_confidence: str | None = option("Theses below this confidence count as hold, 0 to 1.")
    timeout: str | None = option("Seconds per LLM call, 1 to 600.")
    decide_every: str | None = option("Decide on every n-th bar, 1 to 250.")
    portfolio: bool | None = option(
        "Judge every symbol in one LLM call from a table of the universe, or one call per symbol.",
        "--portfolio/--per-symbol",
        show_default=False,
    )
    tools_via: str | None = option(
        "in_process (default), or mcp: the tools through tradepit's own MCP server."
    )
    mcp_transport: str | None = option("With --tools-via mcp: memory (default) or stdio.")
    mcp_servers: Path | None = option(
        "A YAML file holding a list of external MCP servers (name, tools, and command or "
        "url; see AgentSpec.mcp_servers)."
    )

    def changes(self) -> dict[str, Any]:
        """The spec fields given, by spec field name: tools split on commas, the servers a
        --mcp-servers file lists."""
        changes: dict[str, Any] = {
            each.name: getattr(self, each.name)
            for each in fields(self)
            if getattr(self, each.name) is not None
        }
        if isinstance(changes.get("tools"), str):
            changes["tools"] = [t.strip() for t in changes["tools"].split(",") if t.strip()]
        if "timeout" in changes:
            changes["timeout_s"] = changes.pop("timeout")
        if self.mcp_servers is not None:
            changes["mcp_servers"] = _mcp_servers(self.mcp_servers)
        return changes


def _mcp_servers(path: Path) -> list[Any]:
    """The servers a --mcp-servers file lists; a bad file is one line naming the flag."""
    try:
        servers = read_yaml(path, "the --mcp-servers file")
    except ConfigError as error:
        fail(f"--mcp-servers: {error}")
    if not isinstance(servers, list):
        fail(f"--mcp-servers {str(path)!r}: give a YAML list of servers, got {servers!r:.80}")
    return servers


def _manager(
    home: Path | None, providers: Path | None = None, *, check: bool = False
) -> AgentManager:
    """The home's agents; with `check`, model references are validated against providers.yaml."""
    config = load_providers(providers) if check else None
    return AgentManager.at_home(tradepit_home(home), LiveClock(), config)


@clean_errors
def agents_list(home: Home = None, as_json: JsonFlag = False) -> None:
    """List the saved agents: role, models, main settings, and whether each YAML file still
    matches the database.

    Example: `tradepit agents list --json`
    """
    with _manager(home) as manager:
        saved = manager.list()
    if as_json:
        print(json.dumps({"agents": [_document(a) for a in saved]}, indent=2))
        return
    if not saved:
        stdout.print("no agents yet; create one with `tradepit agents create --help`", markup=False)
        return
    table = Table(title="Agents")
    for column in ("name", "role", "models", "temp", "tools", "updated", "file"):
        wraps = column == "tools"  # the one long cell: fold it, never cut a tool's name
        table.add_column(column, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis")
    for a in saved:
        s = a.spec
        table.add_row(
            s.name,
            s.role.value,
            Text(s.model + (f"\nthen {s.fallback_model}" if s.fallback_model else "")),
            f"{s.temperature:g}",
            "\n".join(s.tools),
            a.updated_at.date().isoformat(),
            a.file_status,
        )
    print_table(stdout, table)


@clean_errors
def agents_show(name: NameArgument, home: Home = None, as_json: JsonFlag = False) -> None:
    """Show one agent's full spec, as the database holds it, and its YAML file's state.

    Example: `tradepit agents show bull --json`
    """
    with _manager(home) as manager:
        saved = manager.show(name)
    if as_json:
        print(json.dumps(_document(saved), indent=2))
        return
    table = Table(title=f"agent {saved.name}", show_header=False)
    table.add_column("field", no_wrap=True)
    table.add_column("value")
    for field, value in saved.spec.model_dump(mode="json").items():
        shown = ", ".join(value) if isinstance(value, list) else value
        table.add_row(field, Text("" if shown is None else str(shown)))  # text, not markup
    table.add_row("created", saved.created_at.isoformat(timespec="seconds"))
    table.add_row("updated", saved.updated_at.isoformat(timespec="seconds"))
    print_table(stdout, table)
    # Paths and commands on lines of their own, never wrapped, so they can be copied.
    lines = [f"file: {saved.path} ({saved.file_status})", _file_hint(saved)]
    for line in filter(None, lines):
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)


@clean_errors
@option_groups
def agents_create(
    name: Annotated[
        str | None,
        typer.Argument(help="The agent's name; optional with --file.", show_default=False),
    ] = None,
    file: SpecFile = None,
    *,
    given: SpecOptions,
    providers: ProvidersFile = None,
    force: Force = False,
    home: Home = None,
    as_json: JsonFlag = False,
) -> None:
    """Save a new agent, from options or from a YAML file (options then override the file).

    The model references must be in providers.yaml; every number is checked against its
    bounds. The agent is written to the database and to `$TRADEPIT_HOME/agents/NAME.yaml`.

    Examples:

        tradepit agents create bull --role bull --model fast --temperature 0.3
        tradepit agents create tech --role technical_analyst --model deep \\
            --fallback-model fast --tools compute_indicator,get_ohlcv
        tradepit agents create contrarian --role custom --model deep \\
            --persona "You fade crowded trades and say why."
        tradepit agents create mcp-tech --role technical_analyst --model deep \\
            --tools compute_indicator --tools-via mcp --mcp-transport stdio
        tradepit agents create --file spec.yaml
    """
    changes = given.changes()
    if file is not None:
        spec = revise(load_spec_file(file, name), changes)
    else:
        if name is None:
            fail("give the agent's name (tradepit agents create NAME ...), or --file")
        missing = [option for option in ("role", "model") if option not in changes]
        if missing:
            fail(f"creating agent {name!r} needs --{' and --'.join(missing)} (or --file)")
        spec = validate_spec({"name": name, **changes}, f"agent {name!r}")
    with _manager(home, providers, check=True) as manager:
        saved = manager.create(spec, force=force, source=file)
    _report("created", saved, as_json)


@clean_errors
@option_groups
def agents_update(
    name: NameArgument,
    file: SpecFile = None,
    *,
    given: SpecOptions,
    unset: Annotated[
        list[str] | None,
        typer.Option("--unset", help="Clear persona or fallback_model (repeatable)."),
    ] = None,
    providers: ProvidersFile = None,
    force: Force = False,
    home: Home = None,
    as_json: JsonFlag = False,
) -> None:
    """Change an agent: only the fields given change, and the result is checked as a whole.

    `--file` applies a whole spec, such as the agent's own YAML file after editing it by hand.
    With no change at all, the YAML file is rewritten from the database (`--force` discards a
    hand edit).

    Examples:

        tradepit agents update bull --temperature 0.5 --max-tokens 2048
        tradepit agents update bull --fallback-model local
        tradepit agents update bull --unset fallback_model
        tradepit agents update bull --file ~/.tradepit/agents/bull.yaml
    """
    changes = given.changes()
    for field in unset or []:
        key = field.replace("-", "_")
        if key not in NULLABLE:
            fail(f"--unset takes {' or '.join(NULLABLE)}, got {field!r}")
        if key in changes:
            fail(f"--unset {field} and --{key.replace('_', '-')} contradict each other")
        changes[key] = None
    if file is not None:
        changes = {**load_spec_file(file, name).model_dump(mode="json"), **changes}
    with _manager(home, providers, check=True) as manager:
        saved = manager.update(name, changes, force=force, source=file)
    _report("updated", saved, as_json)


@clean_errors
def agents_remove(name: NameArgument, home: Home = None, as_json: JsonFlag = False) -> None:
    """Delete an agent: its database record and its YAML file.

    Example: `tradepit agents remove bull`
    """
    with _manager(home) as manager:
        path = manager.path(name)
        manager.remove(name)
    if as_json:
        print(json.dumps({"removed": name, "file": str(path)}))
        return
    stdout.print(f"removed agent {name!r} and {path}", markup=False, highlight=False)


agents_app.command("list")(agents_list)
agents_app.command("show")(agents_show)
agents_app.command("create")(agents_create)
agents_app.command("update")(agents_update)
agents_app.command("remove")(agents_remove)


def _document(saved: SavedAgent) -> dict[str, Any]:
    return {
        "name": saved.name,
        "spec": saved.spec.model_dump(mode="json"),
        "created_at": saved.created_at.isoformat(),
        "updated_at": saved.updated_at.isoformat(),
        "file": str(saved.path),
        "file_status": saved.file_status,
    }


def _report(verb: str, saved: SavedAgent, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_document(saved), indent=2))
        return
    stdout.print(f"{verb} agent {saved.name!r}: {saved.path}", markup=False, highlight=False)


def _file_hint(saved: SavedAgent) -> str | None:
    apply = f"tradepit agents update {saved.name} --file {saved.path}"
    restore = f"tradepit agents update {saved.name} --force"
    match saved.file_status:
        case "same":
            return None
        case "edited":
            return (
                f"the file differs from the database: apply it with `{apply}`, "
                f"or discard the edit with `{restore}`"
            )
        case "invalid":
            return f"the file does not load; `{apply}` says why, `{restore}` rewrites it"
        case "missing":
            return f"the file is missing; `{restore}` writes it again"
        case _:
            assert_never(saved.file_status)
