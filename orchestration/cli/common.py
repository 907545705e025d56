"""What every `tradepit` command shares: the consoles, the error contract (one line on stderr,
exit code 2), option types, and the parsers and locations the commands agree on."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import annotated_types
import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from trading.data import Catalog
from trading.errors import TradepitError
from trading.storage import Store, default_database_url

EXIT_BAD_INPUT = 2
HOME_ENV = "TRADEPIT_HOME"
P = ParamSpec("P")
M = TypeVar("M", bound=BaseModel)

stdout = Console()
stderr = Console(stderr=True)


def command_group(help: str, **settings: Any) -> typer.Typer:
    """A `tradepit` command group (`tradepit agents`, `tradepit data`, ...) with plain help,
    which wraps whole at any width, piped or not; with no command it prints its help, unless
    `settings` say otherwise."""
    return typer.Typer(rich_markup_mode=None, help=help, **{"no_args_is_help": True, **settings})


DataFiles = Annotated[
    list[Path] | None,
    typer.Option("--data", help="An OHLCV CSV or Parquet file to add (repeatable)."),
]
Home = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="The tradepit home; default $TRADEPIT_HOME, else ~/.tradepit.",
        show_default=False,
    ),
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


def print_table(console: Console, table: Table) -> None:
    """Print a table whole: no cell is ever cut with an ellipsis (a figure that does not fit
    folds onto the next line), and on a pipe or a file, which has no width of its own, the
    table is printed as wide as its longest cells instead of folded to 80 columns."""
    for column in table.columns:
        column.overflow = "fold"
    if not console.is_terminal:
        natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
        if natural > console.width:
            # print() cannot go wider than its console: the same file, at the table's width.
            console = Console(file=console.file, width=natural, color_system=None)
    console.print(table)


def note(message: str) -> None:
    """A line on stderr that the run goes on after: what was skipped, cut or assumed."""
    stderr.print(f"note: {message}", markup=False, highlight=False, soft_wrap=True)


def tradepit_home(home: Path | None = None) -> Path:
    """Where tradepit keeps its databases and agents: the given path, else $TRADEPIT_HOME, else
    ~/.tradepit."""
    if home is not None:
        path, named = home, f"--home {home}"
    elif HOME_ENV in os.environ:
        path = Path(os.environ[HOME_ENV])
        named = f"${HOME_ENV} ({path})"
    else:
        path = Path.home() / ".tradepit"
        named = str(path)
    if path.exists() and not path.is_dir():
        fail(f"{named} is a file; the tradepit home must be a directory")
    return path


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


def model_from_flags(model: type[M], flags: Mapping[str, tuple[str, object]]) -> M:
    """`model` built from command-line flags, given as {field: (flag, value)}. A value the model
    refuses fails in one line naming the flag and the range the field allows, never the field:
    `--fee-bps must be from 0 to 1000, got 1E+9`, not `taker_fee_bps=Decimal('1E+9')`."""
    try:
        return model(**{field: value for field, (_, value) in flags.items()})
    except ValidationError as error:
        item = error.errors()[0]
        field = str(item["loc"][0]) if item["loc"] else ""
        if field not in flags:
            raise
        flag, value = flags[field]
        fail(f"{flag} must be {_allowed(model, field) or item['msg']}, got {value}")


def _allowed(model: type[BaseModel], field: str) -> str:
    """The range a numeric field's bounds allow, in words ("" when it has none)."""
    words = []
    for bound in model.model_fields[field].metadata:
        match bound:
            case annotated_types.Ge(ge=least):
                words.append(f"at least {least}")
            case annotated_types.Gt(gt=least):
                words.append(f"above {least}")
            case annotated_types.Le(le=most):
                words.append(f"at most {most}")
            case annotated_types.Lt(lt=most):
                words.append(f"below {most}")
    return " and ".join(words)


# The pip package for a database driver whose module is missing, where the names differ.
DRIVER_PACKAGES = {
    "psycopg": "'psycopg[binary]'",
    "psycopg2": "psycopg2-binary",
    "pymysql": "PyMySQL",
    "MySQLdb": "mysqlclient",
    "cx_Oracle": "cx-Oracle",
    "oracledb": "oracledb",
    "pyodbc": "pyodbc",
}


def check_db_url(value: str | None) -> str | None:
    """The `--db` callback: a SQLAlchemy URL whose dialect and driver load here, checked before
    any work starts; otherwise one line naming --db (and the package a missing driver needs)."""
    if value is None:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(value)
    except ArgumentError:
        fail(f"--db takes a SQLAlchemy URL such as sqlite:///runs.db, got {value!r}")
    try:
        url.get_dialect().import_dbapi()
    except NoSuchModuleError:
        fail(
            f"--db: SQLAlchemy knows no database {url.drivername!r} (sqlite, postgresql, mysql...)"
        )
    except ImportError as missing:
        module = missing.name or str(missing)
        package = DRIVER_PACKAGES.get(module, module)
        fail(f"--db {url.drivername}:// needs the {module} driver: pip install {package}")
    return value


def check_report_dir(value: Path | None) -> Path | None:
    """The `--report` callback: a folder that exists or can be made, checked before the work
    starts, so that a long run does not fail only when it comes to write its report."""
    if value is None:
        return None
    existing = value
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        named = "is a file" if existing == value else f"is inside {existing}, a file"
        fail(f"--report {value} {named}; it names a folder for the report")
    if not os.access(existing, os.W_OK | os.X_OK):
        fail(f"--report {value}: {existing} is not writable")
    return value


Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLAlchemy URL of the run database; default $TRADEPIT_HOME/replay.db (Kraken "
        "runs: paper.db, live.db).",
        callback=check_db_url,
        show_default=False,
    ),
]


@dataclass(frozen=True, slots=True)
class RunDatabase:
    """Where the run database is, an option group (`orchestration.cli.options`) of the commands
    that read stored runs: `--db`, else the replay database in the home `--home` names."""

    db: Db = None
    home: Home = None

    def url(self) -> str:
        return self.db or default_database_url(tradepit_home(self.home), "replay")


def database(db: str | None) -> Store:
    """The run store: the given SQLAlchemy URL, else the replay database in the home."""
    return Store(RunDatabase(db).url())
