"""One transaction shared by several repository calls: a unit of work, opt-in per code path.

Every repository opens its transactions through ``transaction`` (writes) and ``connection``
(reads). Outside a unit, each call has its own, as ``engine.begin()`` and ``engine.connect()``
give. Inside ``unit_of_work(engine)``, opened by a service around a step that must happen as one
(a sign-in: its throttle refund, last-login mark, session and history row), every call on that
engine in this thread and context joins the unit's one transaction: the step is written whole or
not at all, and costs one connection checkout and one commit instead of one per call.

What runs inside a unit sees the unit's own uncommitted writes, so a unit must not wait on another
connection that writes (on SQLite that connection would wait for the unit's write lock). Work of
that kind is deferred with ``after_commit`` (the outbox wakes its worker so), or joins the unit:
the audit chain appends a unit's events in the unit's transaction, under its lock, so they are
committed with the step they record and never recorded for a step rolled back.

Units are for steps that do not recover from a database error half-way: an error inside one
rolls the whole unit back (PostgreSQL would refuse every later statement of the transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine


@dataclass
class _Unit:
    engine: Engine
    conn: Connection
    after_commit: list[Callable[[], None]] = field(default_factory=list)


# A ContextVar, not a thread-local: anyio runs each worker-thread call in a copy of the caller's
# context, so a unit opened inside one call is seen by nothing else, in any thread.
_CURRENT: ContextVar[_Unit | None] = ContextVar("quivive_unit_of_work", default=None)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Connection]:
    """One transaction for every ``transaction``/``connection`` on ``engine`` inside the block.

    Committed when the block ends, rolled back if it raises; then the ``after_commit`` callbacks
    run, in order, only if it committed. A unit opened inside another on the same engine joins it.
    """
    current = _CURRENT.get()
    if current is not None and current.engine is engine:
        yield current.conn
        return
    with engine.begin() as conn:
        unit = _Unit(engine, conn)
        token = _CURRENT.set(unit)
        try:
            yield conn
        finally:
            _CURRENT.reset(token)
    for callback in unit.after_commit:
        callback()


def transaction(engine: Engine) -> AbstractContextManager[Connection]:
    """``engine.begin()``, or the open unit's connection (committed with the unit)."""
    return _joining(engine, engine.begin)


def connection(engine: Engine) -> AbstractContextManager[Connection]:
    """``engine.connect()`` for reading, or the open unit's connection (which sees its writes)."""
    return _joining(engine, engine.connect)


@contextmanager
def _joining(
    engine: Engine, open_own: Callable[[], AbstractContextManager[Connection]]
) -> Iterator[Connection]:
    current = _CURRENT.get()
    if current is not None and current.engine is engine:
        yield current.conn
        return
    with open_own() as conn:
        yield conn


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the open unit commits (never if it rolls back); at once if none."""
    current = _CURRENT.get()
    if current is None:
        callback()
    else:
        current.after_commit.append(callback)


def in_unit_of_work() -> bool:
    return _CURRENT.get() is not None
