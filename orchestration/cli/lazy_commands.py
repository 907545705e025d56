"""The root command group's commands, each imported only when it is run or its help is asked.

Typer has no lazy loading of its own, and it builds every registered command when the app is
called: importing every command module for every command. Those modules import what their
commands need (agno, the MCP SDK, httpx, the LLM gateway, the evolution engine), so a quant
`tradepit backtest` paid about 1.5 s of imports for commands it never runs. This group is
click's documented lazy-subcommand pattern on typer's group class: it knows each command by
name, module and summary, lists them with their summaries (`tradepit --help` imports no command
module), and imports and builds a command the first time it is looked up by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """Where a command lives and what `tradepit --help` says of it, without importing it."""

    module: str
    """The module that defines it, e.g. `orchestration.cli.data`."""
    attribute: str
    """Its command function or its `typer.Typer` group in that module."""
    summary: str
    """The first paragraph of its help; `tradepit --help` shortens it as typer would (a test
    holds it to the command's own help)."""


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands by name, in listing order: the lazy ones, each imported and built by
    `load` on its first lookup (`commands[name]`, `commands.get(name)`) and kept, then any built
    ones registered directly. Iterating the names imports nothing, so typer's "did you mean"
    hint for a mistyped command stays cheap."""

    def __init__(
        self,
        built: Mapping[str, Any],
        lazy: Mapping[str, LazyCommand],
        load: Callable[[str, LazyCommand], Any],
    ) -> None:
        self._built: dict[str, Any] = dict(built)
        self._lazy = dict(lazy)
        self._load = load

    def __getitem__(self, name: str) -> Any:
        if name not in self._built and name in self._lazy:
            self._built[name] = self._load(name, self._lazy[name])
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._lazy.pop(name, None)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._lazy
        yield from (name for name in self._built if name not in self._lazy)

    def __contains__(self, name: object) -> bool:
        return name in self._built or name in self._lazy

    def __len__(self) -> int:
        return len(self._lazy.keys() | self._built.keys())

    def loaded(self, name: str) -> Any | None:
        """The command if it is built already, else None (and nothing is imported)."""
        return self._built.get(name)

    def summary(self, name: str) -> str:
        return self._lazy[name].summary


def lazy_group(commands: Mapping[str, LazyCommand], **settings: Any) -> type[TyperGroup]:
    """A typer group class (for `typer.Typer(cls=...)`) whose commands are `commands`, built as
    they would be by `app.command(name)(function)` or `app.add_typer(group, name=name)` on an
    app with these `settings` (the app's own: plain help, its exception handling)."""

    def load(name: str, where: LazyCommand) -> Any:
        target = getattr(importlib.import_module(where.module), where.attribute)
        holder = typer.Typer(**settings)
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=name)
        else:
            holder.command(name)(target)
        # Built as a group of one, so that typer hands the app's settings down to it exactly as
        # it does for commands registered on the app itself.
        return typer.main.get_group(holder).commands[name]

    # The context and formatter are typed `Any`: they are click's types, which typer 0.29 vendors
    # under a private module and older typers take from click itself.
    class Group(TyperGroup):
        def __init__(self, **attrs: Any) -> None:
            super().__init__(**attrs)
            self.lazy = LazyCommands(self.commands, commands, load)
            self.commands = self.lazy

        def list_commands(self, ctx: Any) -> list[str]:
            return list(self.commands)

        def format_commands(self, ctx: Any, formatter: Any) -> None:
            # Listed from their summaries: `tradepit --help` must not import every command.
            listed = self.lazy
            shown = [
                TyperCommand(name=name, help=listed.summary(name))
                if listed.loaded(name) is None
                else listed[name]
                for name in self.list_commands(ctx)
            ]
            TyperGroup.format_commands(TyperGroup(commands=shown), ctx, formatter)

    return Group
