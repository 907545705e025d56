"""What every `tradepit` command shares: the consoles, the error contract (one line on stderr,
exit code 2), option types, and the parsers and locations the commands agree on."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec

import typer
from pydantic import ValidationError
from rich.console import Console

from trading.data import Catalog
from trading.errors import TradepitError
from trading.storage import Store, default_database_url

EXIT_BAD_INPUT = 2
HOME_ENV = "TRADEPIT_HOME"
P = ParamSpec("P")

stdout = Console()
stderr = Console(stderr=True)

DataFiles = Annotated[
    list[Path] | None,
    typer.Option("--data", help="An OHLCV CSV or Parquet file to add (repeatable)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document instead.")]
ProvidersFile = Annotated[
    Path | None,
    typer.Option("--providers", help="providers.yaml to use; default $TRADEPIT_PROVIDERS."),
]
# The kill switch does more than refuse new risk: `trading.replay` flattens every position
# once it trips (`ReplayConfig.flatten_on_kill`), and the gate keeps it tripped.
MAX_DRAWDOWN_HELP = (
    "Past this drawdown from the equity peak, e.g. 0.3, the kill switch sells everything and "
    "holds cash for the rest of the run."
)


def clean_errors(command: Callable[P, None]) -> Callable[P, None]:
    """Turn deliberate errors (bad symbol, bad parameter, bad file) into one line and exit 2."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except TradepitError as error:
            fail(str(error))
        except ValidationError as error:
            fail("; ".join(_validation_message(item) for item in error.errors()))

    return wrapper


def _validation_message(item: Any) -> str:
    where = ".".join(str(part) for part in item["loc"])
    return f"{where}={item.get('input')!r}: {item['msg']}"


class BadInput(typer.Exit):
    """What `fail` raises: exit 2, saying the message it printed (an event stream repeats it)."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_BAD_INPUT)
        self.message = message

    def __str__(self) -> str:
        return self.message


def fail(message: str) -> NoReturn:
    stderr.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise BadInput(message)


def note(message: str) -> None:
    """A line on stderr that the run goes on after: what was skipped, cut or assumed."""
    stderr.print(f"note: {message}", markup=False, highlight=False, soft_wrap=True)


def tradepit_home(home: Path | None = None) -> Path:
    """Where tradepit keeps its databases and agents: the given path, else $TRADEPIT_HOME, else
    ~/.tradepit."""
    if home is not None:
        return home
    return Path(os.environ.get(HOME_ENV, Path.home() / ".tradepit"))


def catalog(files: list[Path] | None) -> Catalog:
    return Catalog.default(files or [])


def parse_date(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} takes a date as YYYY-MM-DD, got {value!r}")


def parse_decimal(option: str, value: str, minimum: Decimal = Decimal(0)) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        fail(f"{option} takes a number, got {value!r}")
    if not number.is_finite() or number < minimum:
        fail(f"{option} must be a finite number of at least {minimum}, got {value!r}")
    return number


def database(db: str | None) -> Store:
    """The run store: the given SQLAlchemy URL, else the replay database in the home."""
    if db is None:
        db = default_database_url(tradepit_home(), "replay")
    return Store(db)
