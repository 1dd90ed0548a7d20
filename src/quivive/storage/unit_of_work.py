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

On SQLite a unit takes the single write lock up front (``BEGIN IMMEDIATE``), after waiting its
turn on a lock of this process. SQLite's own wait for a busy database sleeps and retries (1, 2,
5, 10 ms...), so under load a sign-in's unit slept a millisecond or more for a lock held a tenth
of that; the process's units now queue on a lock that wakes the next one at once. Taking the write
lock first also means a unit reads what it is about to overwrite with no other writer in between:
the throttle's compare-and-set no longer loses to a concurrent sign-in and reads again. Units are
short (no password hashing, no network inside), so queueing them costs no concurrency that
SQLite's one writer allowed. PostgreSQL units begin as before: its row locks let them overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine

from quivive.errors import StorageError
from quivive.storage.driver_sql import dbapi_connection

# As long as SQLite's own busy timeout (storage.database): a unit waits no less for its turn here.
WRITER_WAIT_S = 10.0


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
    with _writer_turn(engine), engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            _begin_immediate(conn)
        unit = _Unit(engine, conn)
        token = _CURRENT.set(unit)
        try:
            yield conn
        finally:
            _CURRENT.reset(token)
    for callback in unit.after_commit:
        callback()


_WRITERS: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()


@contextmanager
def _writer_turn(engine: Engine) -> Iterator[None]:
    """On SQLite, this process's turn to write on ``engine``; held until the unit has committed."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _WRITERS_GUARD:
        lock = _WRITERS.setdefault(engine, threading.Lock())
    if not lock.acquire(timeout=WRITER_WAIT_S):
        raise StorageError(f"the database stayed busy for {WRITER_WAIT_S:.0f} s")
    try:
        yield
    finally:
        lock.release()


def _begin_immediate(conn: Connection) -> None:
    # SQLAlchemy's begin sends nothing to pysqlite, which would begin lazily (deferred) before the
    # first write: this is the transaction's first statement, so it is the one that begins it.
    dbapi_connection(conn).execute("BEGIN IMMEDIATE")


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
