"""A batch of a run's records (orders, fills, equity points, decisions) as the columns of the
run store's tables (`trading.storage`), written in the caller's transaction.

A backtest writes its whole run in one batch, about two rows per bar, and a trading cycle a few
rows. The batch is taken apart column by column, with loops that run in C where there is one
value per row (an equity point's time, a decision's agent), so that a 5,000-bar backtest costs
no Python step per row before `trading.storage_bulk` encodes each column. A cycle's few rows
take SQLAlchemy's own cached insert, cheaper for them than the bulk statement's compile.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import compress, repeat
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, delete, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeEngine

from trading.domain import EquityPoint, Order, OrderFilled
from trading.storage_bulk import bulk_insert, encoded_column, once_each
from trading.storage_checksum import FILL_FIELDS
from trading.storage_schema import Base
from trading.storage_statements import compiles_alike, execute_compiled_once

# From this many rows a batch goes through `bulk_insert`; fewer take SQLAlchemy's insert.
_BULK_ROWS = 64
# Order ids per DELETE of the orders a batch replaces: under every database's parameter limit.
_DELETED_PER_STATEMENT = 500
_ORDER_COLUMNS = (
    "run_id",
    "order_id",
    "symbol",
    "side",
    "type",
    "quantity",
    "limit_price",
    "status",
    "reason",
    "filled_quantity",
    "fees",
    "created_at",
)
_FILL_COLUMNS = ("run_id", *FILL_FIELDS)  # the fields the checksum reads, in its order
_FILL_ROW = itemgetter(*_FILL_COLUMNS)  # a `fill_row`'s values in that order


class DecisionRow(NamedTuple):
    """A decision as the store writes it: when and by which agent, its target weights and
    rationale, the risk gate's reviews (plain JSON data, as `DecisionLog.risk_json` gives them,
    stored as they are) and the symbols the agent abstained on, with why."""

    time: datetime
    agent: str
    targets: Mapping[str, Decimal]
    rationale: str
    risk: list[dict[str, Any]]
    abstentions: Mapping[str, str]


class DecisionColumns(NamedTuple):
    """Decisions as columns: the fields of `DecisionRow`, each a sequence with one value per
    decision, in order. What a backtest gives for its thousands of decisions, taken from its
    logs a field at a time, without a row object per decision."""

    times: Sequence[datetime]
    agents: Sequence[str]
    targets: Sequence[Mapping[str, Decimal]]
    rationales: Sequence[str]
    risks: Sequence[list[dict[str, Any]]]
    abstentions: Sequence[Mapping[str, str]]

    @classmethod
    def of(cls, rows: Iterable[DecisionRow]) -> DecisionColumns:
        """The columns of `rows`."""
        rows = list(rows)
        if not rows:
            return cls((), (), (), (), (), ())
        return cls(*zip(*rows, strict=True))


def write_batch(
    connection: Connection,
    run_id: str,
    orders: Iterable[Order],
    fills: Iterable[OrderFilled],
    equity: Iterable[EquityPoint],
    decisions: Iterable[DecisionRow] | DecisionColumns,
    first_decision_seq: int,
) -> None:
    """Insert the records of one batch of run `run_id`; its orders replace the stored ones with
    their ids (an order's state moves on), its decisions are numbered from
    `first_decision_seq`."""
    tables = Base.metadata.tables
    order_rows = [
        (
            run_id,
            order.id,
            order.symbol,
            order.side.value,
            order.type.value,
            order.quantity,
            order.limit_price,
            order.status.value,
            order.reason,
            order.filled_quantity,
            order.fees,
            order.created_at,
        )
        for order in orders
    ]
    if order_rows:
        _delete_orders(connection, tables["orders"], run_id, [row[1] for row in order_rows])
    fill_rows = list(map(_FILL_ROW, map(fill_row, repeat(run_id), fills)))
    if not isinstance(decisions, DecisionColumns):
        decisions = DecisionColumns.of(decisions)
    equity_columns = _equity_columns(run_id, equity)
    if len(decisions.times) >= _BULK_ROWS:
        decision_columns, decisions_encoded = _bulk_decision_columns(
            connection, tables["decisions"], run_id, decisions, first_decision_seq
        )
    else:
        decision_columns = _decision_columns(run_id, decisions, first_decision_seq)
        decisions_encoded = {}
    for table, columns, encoded in (
        (tables["orders"], _columns(_ORDER_COLUMNS, order_rows), {}),
        (tables["fills"], _columns(_FILL_COLUMNS, fill_rows), {}),
        (tables["equity"], equity_columns, {}),
        (tables["decisions"], decision_columns, decisions_encoded),
    ):
        _insert(connection, table, columns, encoded)


def _delete_orders(connection: Connection, stored: Table, run_id: str, ids: list[str]) -> None:
    """Delete the stored orders of run `run_id` with `ids`: an upsert that works on every
    database replaces the orders whose state moved. On SQLite one statement compiled once per
    process (`execute_compiled_once`) deletes each by its key (about 1 us an order); elsewhere a
    statement per few hundred ids saves the round trips."""
    if compiles_alike(connection.dialect) is not None:
        execute_compiled_once(
            connection,
            "delete an order",
            lambda: delete(stored).where(
                stored.c.run_id == bindparam("run_id"), stored.c.order_id == bindparam("order_id")
            ),
            [{"run_id": run_id, "order_id": order_id} for order_id in ids],
        )
        return
    for start in range(0, len(ids), _DELETED_PER_STATEMENT):
        chunk = ids[start : start + _DELETED_PER_STATEMENT]
        connection.execute(
            delete(stored).where(stored.c.run_id == run_id, stored.c.order_id.in_(chunk))
        )


def _bulk_decision_columns(
    connection: Connection,
    table: Table,
    run_id: str,
    decisions: DecisionColumns,
    first_seq: int,
) -> tuple[dict[str, Sequence[Any]], dict[str, Sequence[Any]]]:
    """The columns of a bulk batch's decisions and the encodings of their JSON columns, taken
    straight from the given columns: each distinct targets object is made text and encoded
    once (a run's decisions take a few), and the risk reviews and abstentions, almost all
    empty, take the empty value's encoding, the others theirs in place (`_mostly_empty`)."""
    count = len(decisions.times)
    dialect = connection.dialect
    columns: dict[str, Sequence[Any]] = {
        "run_id": [run_id] * count,
        "seq": range(first_seq, first_seq + count),
        "time": decisions.times,
        "agent": decisions.agents,
        "targets": decisions.targets,
        "rationale": decisions.rationales,
        "risk": decisions.risks,
        "abstentions": decisions.abstentions,
    }
    encoded: dict[str, Sequence[Any]] = {
        "targets": _encoded_targets(table.c.targets.type, dialect, decisions.targets),
        "risk": _mostly_empty(table.c.risk.type, dialect, decisions.risks, [], list),
        "abstentions": _mostly_empty(
            table.c.abstentions.type, dialect, decisions.abstentions, {}, dict
        ),
    }
    return columns, encoded


def _encoded_targets(
    column_type: TypeEngine[Any], dialect: Dialect, targets: Sequence[Mapping[str, Decimal]]
) -> list[Any]:
    """The encoding of each mapping of target weights as the text stored
    (`_weights_as_text`), made once per distinct mapping object: the ids and the look-ups run
    in C, the text and the encoding once per object."""
    ids = list(map(id, targets))
    distinct = dict(zip(ids, targets, strict=True))  # the column holds its objects meanwhile
    as_text = _weights_as_text(list(distinct.values()))
    encodings = dict(zip(distinct, encoded_column(column_type, dialect, as_text), strict=True))
    return list(map(encodings.__getitem__, ids))


def _mostly_empty(
    column_type: TypeEngine[Any],
    dialect: Dialect,
    values: Sequence[Any],
    empty: object,
    as_stored: Callable[[Any], Any],
) -> list[Any]:
    """The encodings of a column whose values are almost all empty: the empty value's encoding
    repeated, the others' (`as_stored`, plain JSON data) put in their places, with a list and
    two loops that run in C."""
    stored = list(encoded_column(column_type, dialect, [empty])) * len(values)
    others = list(compress(range(len(values)), values))
    if others:
        given = [as_stored(values[i]) for i in others]
        for i, value in zip(others, encoded_column(column_type, dialect, given), strict=True):
            stored[i] = value
    return stored


def _insert(
    connection: Connection,
    table: Table,
    columns: dict[str, Sequence[Any]],
    encoded: dict[str, Sequence[Any]],
) -> None:
    count = len(next(iter(columns.values()))) if columns else 0
    if count >= _BULK_ROWS:
        bulk_insert(connection, table, columns, encoded)
    elif count:
        # Core executemany, not ORM objects: the ORM's per-object bookkeeping costs more than
        # a replay itself.
        names = tuple(columns)
        rows = zip(*columns.values(), strict=True)
        connection.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])


def _columns(names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> dict[str, Sequence[Any]]:
    if not rows:
        return {}
    return dict(zip(names, zip(*rows, strict=True), strict=True))


def _equity_columns(run_id: str, equity: Iterable[EquityPoint]) -> dict[str, Sequence[Any]]:
    points = list(equity)
    if not points:
        return {}
    times, cash, values = zip(*points, strict=True)
    return {"run_id": [run_id] * len(points), "time": times, "cash": cash, "equity": values}


def _decision_columns(
    run_id: str, decisions: DecisionColumns, first_seq: int
) -> dict[str, Sequence[Any]]:
    """The decisions as the columns of the decisions table, with every JSON value that is stored
    alike given as one object, so that the bulk insert encodes it once: a run's decisions take a
    few distinct targets (in as many mappings as decisions, or shared ones), and almost all have
    no risk reviews and no abstentions."""
    count = len(decisions.times)
    if not count:
        return {}
    no_risk: list[dict[str, Any]] = []
    no_abstentions: dict[str, str] = {}
    return {
        "run_id": [run_id] * count,
        "seq": range(first_seq, first_seq + count),
        "time": decisions.times,
        "agent": decisions.agents,
        "targets": _weights_as_text(decisions.targets),
        "rationale": decisions.rationales,
        "risk": [risk or no_risk for risk in decisions.risks],
        "abstentions": [
            (a if type(a) is dict else dict(a)) if a else no_abstentions
            for a in decisions.abstentions
        ],
    }


def _weights_as_text(targets: Sequence[Mapping[str, Decimal]]) -> list[dict[str, str]]:
    """Each mapping of target weights with each weight as the text stored (1.0 and 1.00 are
    equal decimals, not equal texts): one dict per distinct text, shared by every mapping that
    is stored as it, made once per distinct mapping object (`once_each`: a replay's agents give
    the same targets object for as long as their signals last)."""
    by_text: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    def as_text(weights: Mapping[str, Decimal]) -> dict[str, str]:
        pairs = tuple((symbol, str(weight)) for symbol, weight in weights.items())
        if not all(type(symbol) is str for symbol, _ in pairs):
            return dict(pairs)  # keys that are not strings may be equal, not stored alike (1, True)
        made = by_text.get(pairs)
        if made is None:
            made = by_text[pairs] = dict(pairs)
        return made

    return once_each(as_text, targets)


def fill_row(run_id: str, f: OrderFilled) -> dict[str, Any]:
    """A fill of run `run_id` as the columns of the fills table."""
    return {
        "run_id": run_id,
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "symbol": f.symbol,
        "side": f.side.value,
        "quantity": f.quantity,
        "price": f.price,
        "fee": f.fee,
        "liquidity": f.liquidity.value,
        "time": f.time,
    }


def jsonable(value: Any) -> Any:
    """JSON columns take plain data: decimals and times become strings, exactly."""
    return json.loads(json.dumps(value, default=_encode))


def _encode(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {value!r} as JSON")
