"""Option groups: options that several commands (or one command's several places) share,
declared once as a frozen dataclass and taken by a command as one parameter.

Typer needs one function parameter per option; it has no groups of its own. A command that
takes a group says so in its signature (`*, costs: CostFlags`) and is wrapped by
`@option_groups`, which hands Typer the group's fields in that parameter's place, in their
order, and builds the record from what Typer parsed before calling the command. A field is
an option by one of two declarations:

- `fee_bps: str | None = option("Exchange fee ...")`: the option `--fee-bps`, named after the
  field (or given names: `option("...", "--file", "-f")`), with that help and default;
- `start: Start = None`: a shared `Annotated[..., typer.Option(...)]` alias, used as it is.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, get_args, get_origin, get_type_hints

import typer
from typer.models import ParameterInfo

T = TypeVar("T")
_OPTION = "tradepit.option"


def option(help: str, *names: str, default: Any = None, **settings: Any) -> Any:
    """A field of an option group: the option `--field-name` (or `names`) with this help and
    default; `settings` go to `typer.Option` as they are (`show_default=False`, ...)."""
    return dataclasses.field(default=default, metadata={_OPTION: (names, help, settings)})


def flag_name(field: str) -> str:
    """The option a field is named by: `fee_bps` is `--fee-bps`."""
    return "--" + field.replace("_", "-")


def by_flag(group: Any) -> dict[str, Any]:
    """An option group's values, by the flag each field is named by (None: not given)."""
    return {flag_name(each.name): getattr(group, each.name) for each in dataclasses.fields(group)}


def option_groups(command: Callable[..., T]) -> Callable[..., T]:
    """`command` with each parameter whose type is a dataclass (an option group) spread into
    the group's options, for Typer; the command itself receives the built record."""
    hints = get_type_hints(command, include_extras=True)
    groups: dict[str, type[Any]] = {}
    parameters: list[inspect.Parameter] = []
    for parameter in inspect.signature(command).parameters.values():
        hint = hints.get(parameter.name, parameter.annotation)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            groups[parameter.name] = hint
            parameters.extend(_group_parameters(hint, parameter.kind))
        else:
            parameters.append(parameter.replace(annotation=hint))
    names = [parameter.name for parameter in parameters]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise TypeError(f"{command.__qualname__}: option groups repeat {', '.join(clashes)}")

    @functools.wraps(command)
    def with_groups(*args: Any, **kwargs: Any) -> T:
        for name, group in groups.items():
            given = {each.name: kwargs.pop(each.name) for each in dataclasses.fields(group)}
            kwargs[name] = group(**given)
        return command(*args, **kwargs)

    signature = inspect.signature(command).replace(parameters=parameters)
    with_groups.__signature__ = signature  # type: ignore[attr-defined]
    with_groups.__annotations__ = {p.name: p.annotation for p in parameters}
    with_groups.__annotations__["return"] = hints.get("return")
    return with_groups


def _group_parameters(group: type[Any], kind: Any) -> list[inspect.Parameter]:
    """The group's fields as parameters of `kind`, each annotated for Typer."""
    hints = get_type_hints(group, include_extras=True)
    parameters = []
    for each in dataclasses.fields(group):
        hint = hints[each.name]
        if _OPTION in each.metadata:
            names, help, settings = each.metadata[_OPTION]
            declared = typer.Option(*(names or (flag_name(each.name),)), help=help, **settings)
            hint = Annotated[hint, declared]
        elif get_origin(hint) is not Annotated or not any(
            isinstance(extra, ParameterInfo) for extra in get_args(hint)[1:]
        ):
            raise TypeError(f"{group.__qualname__}.{each.name} declares no option")
        default = inspect.Parameter.empty if each.default is dataclasses.MISSING else each.default
        parameters.append(inspect.Parameter(each.name, kind, default=default, annotation=hint))
    return parameters
