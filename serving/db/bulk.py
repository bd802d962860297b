"""Writing many rows in the caller's transaction: a settlement's lines (thousands for a large campaign).

PostgreSQL reads them by COPY; SQLite by ``executemany``. Either way a key the table holds
already raises SQLAlchemy's IntegrityError, as any other statement would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

_INSERT_ROWS = 100_000  # rows per executemany: bounds the parameter lists


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
