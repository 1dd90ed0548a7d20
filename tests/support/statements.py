"""Every SQL statement SQLite runs for a block of code, whoever sends it.

SQLAlchemy's ``before_cursor_execute`` event misses statements run on the driver's cursor
(``storage.driver_sql``, the audit chain), so a count taken with it could not fail for those.
SQLite's own trace sees them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

# Transaction control is not a query: pysqlite sends BEGIN before a write on its own.
_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def executed_statements(engine: Engine) -> Iterator[list[str]]:
    """The statements (SQL text) of the connections checked out of ``engine``'s pool meanwhile."""
    if engine.dialect.name != "sqlite":
        raise ValueError("SQLite's trace is what sees every statement: use a SQLite engine")
    statements: list[str] = []

    def note(sql: str) -> None:
        if not sql.lstrip().upper().startswith(_CONTROL):
            statements.append(sql)

    def trace(dbapi_connection: Any, *_: object) -> None:
        dbapi_connection.set_trace_callback(note)

    def untrace(dbapi_connection: Any, *_: object) -> None:
        dbapi_connection.set_trace_callback(None)

    event.listen(engine.pool, "checkout", trace)
    event.listen(engine.pool, "checkin", untrace)
    try:
        yield statements
    finally:
        event.remove(engine.pool, "checkout", trace)
        event.remove(engine.pool, "checkin", untrace)
