"""``Session.is_valid_at`` as a SQL condition, so that a statement filters (and limits) on it.

The domain's method stays the definition for a session in hand; this is the same rule for rows
still in the database, and ``tests/storage/test_session_validity.py`` checks on every backend
that the two agree, to the microsecond. Timeouts are fixed when a session starts (a console
override applies to sessions started after it), so the row holds everything the rule needs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from quivive.storage.tables import UTCDateTime, sessions


class _IdleEnd(FunctionElement[datetime]):
    """``last_seen_at + idle_timeout_s`` seconds: when the session ends if left unused."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(_IdleEnd)
def _unsupported(element: _IdleEnd, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"no idle-end expression for {compiler.dialect.name}")


@compiles(_IdleEnd, "postgresql")
def _postgresql(element: _IdleEnd, compiler: SQLCompiler, **kw: Any) -> str:
    last_seen, seconds = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({last_seen} + {seconds} * INTERVAL '1 second')"


@compiles(_IdleEnd, "sqlite")
def _sqlite(element: _IdleEnd, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's date functions round to the millisecond: shift the whole seconds only
    # ("YYYY-MM-DD HH:MM:SS", the first 19 characters) and put the stored ".ffffff" back, so the
    # result compares as text with bound times exactly as the Python rule compares datetimes.
    last_seen, seconds = (compiler.process(clause, **kw) for clause in element.clauses)
    shifted = f"strftime('%Y-%m-%d %H:%M:%S', substr({last_seen}, 1, 19), {seconds} || ' seconds')"
    return f"({shifted} || substr({last_seen}, 20))"


def session_valid_at(now: datetime) -> ColumnElement[bool]:
    """True for the ``sessions`` rows that ``Session.is_valid_at(now)`` holds valid."""
    return and_(
        sessions.c.revoked_at.is_(None),
        sessions.c.expires_at > now,
        _IdleEnd(sessions.c.last_seen_at, sessions.c.idle_timeout_s) > now,
    )
