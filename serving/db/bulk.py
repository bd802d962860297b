"""Writing many rows in the caller's transaction by the driver itself: a settlement's lines and its
claim in the engagement ledger (hundreds of thousands of rows for a large campaign).

PostgreSQL reads them by COPY; SQLite by the driver's ``executemany`` of tuples. Either way a
key the table holds already raises SQLAlchemy's IntegrityError, as any other statement would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.db.models import SettledEngagement

_LEDGER_COLUMNS = ("event_id", "settlement_id", "campaign_id", "ts")
_INSERT_ROWS = 100_000  # rows per executemany: bounds the parameter lists of a large settlement


def claim_events(session: Session, settlement_id: str, campaign_id: str, covered: pd.DataFrame) -> None:
    """Claim the ``covered`` events (columns event_id, ts) for a settlement in the session's transaction.

    An event another settlement claimed raises IntegrityError, at the latest when committing.
    The rows are built column-wise and written by the driver in one statement, in key order.
    """
    if covered.empty:
        return
    claim = ledger_claim(settlement_id, campaign_id, covered)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _copy_ledger(connection, claim)
        return
    stored = SettledEngagement.__table__.c.ts.type.bind_processor(connection.dialect)
    if stored is not None and stored(claim.first_moment) != claim.moments[0]:
        raise AssertionError("the ledger's time text differs from the dialect's; see ledger_claim")
    statement = f"INSERT INTO settled_engagements ({', '.join(_LEDGER_COLUMNS)}) VALUES (?, ?, ?, ?)"
    rows = zip(claim.event_ids, repeat(settlement_id), repeat(campaign_id), claim.moments, strict=False)
    with _as_sqlalchemy_error(connection, statement):
        _driver(connection).executemany(statement, rows)


def bulk_insert(session: Session, table: Any, names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows in the session's transaction: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    table = cast(Table, table)  # core insert: no ORM bookkeeping per row
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
        with (
            _as_sqlalchemy_error(connection, statement),
            _driver(connection).cursor() as cursor,
            cursor.copy(statement) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    for i in range(0, len(rows), _INSERT_ROWS):
        chunk = rows[i : i + _INSERT_ROWS]
        session.execute(insert(table), [dict(zip(names, row, strict=True)) for row in chunk])


@dataclass(frozen=True)
class LedgerClaim:
    """A settlement's ledger rows column-wise, in event_id order; times as text, to the microsecond.

    ``moments`` is the form SQLAlchemy stores on SQLite ("YYYY-MM-DD HH:MM:SS.ffffff", UTC),
    checked against the dialect on every write; PostgreSQL reads it with "+00" appended.
    """

    settlement_id: str
    campaign_id: str
    event_ids: list[str]
    moments: list[str]
    first_moment: datetime


def ledger_claim(settlement_id: str, campaign_id: str, covered: pd.DataFrame) -> LedgerClaim:
    """The ledger rows of the ``covered`` events (event_id, ts), built without a Python object per row."""
    ids: list[str] = covered["event_id"].astype("str").tolist()
    utc = pd.to_datetime(covered["ts"], utc=True).dt.tz_convert(None).to_numpy().astype("datetime64[us]")
    order = sorted(range(len(ids)), key=ids.__getitem__)  # key order: the key's index is appended
    utc = utc[order]
    text = np.char.replace(np.datetime_as_string(utc, unit="us"), "T", " ")
    first = pd.Timestamp(utc[0]).tz_localize(UTC).to_pydatetime()
    return LedgerClaim(settlement_id, campaign_id, [ids[i] for i in order], text.tolist(), first)


def _copy_ledger(connection: Connection, claim: LedgerClaim) -> None:
    """The claim by one COPY in text form (its fields escaped as COPY reads them)."""
    statement = f"COPY settled_engagements ({', '.join(_LEDGER_COLUMNS)}) FROM STDIN"
    prefix = f"\t{_copy_text(claim.settlement_id)}\t{_copy_text(claim.campaign_id)}\t"
    ids = claim.event_ids
    if any(_COPY_SPECIAL.search(event_id) for event_id in ids):
        ids = [_copy_text(event_id) for event_id in ids]
    lines = "".join(
        f"{event_id}{prefix}{moment}+00\n" for event_id, moment in zip(ids, claim.moments, strict=True)
    )
    with (
        _as_sqlalchemy_error(connection, statement),
        _driver(connection).cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        copy.write(lines.encode())


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def _copy_text(value: str) -> str:
    """A value as a field of COPY's text format."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _driver(connection: Connection) -> Any:
    """The driver's own connection under ``connection`` (in its transaction)."""
    driver = connection.connection.driver_connection
    assert driver is not None
    return driver


@contextmanager
def _as_sqlalchemy_error(connection: Connection, statement: str) -> Iterator[None]:
    """The driver's integrity error raised as every other statement's, for the callers' handlers."""
    try:
        yield
    except connection.dialect.loaded_dbapi.IntegrityError as error:
        raise IntegrityError(statement, None, error) from error
