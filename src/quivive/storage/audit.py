"""Audit repository: the only code that reads or writes ``audit_records`` and ``audit_checkpoints``.

Appends read the head and insert after it, so two writers must never both read the same head.
The chain lock makes that read-then-insert one critical section across processes and nodes:
SQLite takes its single write lock up front (``BEGIN IMMEDIATE``; a plain ``BEGIN`` would take it
only at the insert, after both writers had read the same head), PostgreSQL a transaction-scoped
advisory lock keyed on the schema (so test schemas in one database do not share a chain).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Row, delete, func, insert, select, text

from quivive.domain.audit_chain import (
    ChainPosition,
    ChainRecord,
    Checkpoint,
    CheckpointKind,
)
from quivive.storage.driver_sql import dbapi_connection
from quivive.storage.tables import audit_checkpoints, audit_records
from quivive.storage.unit_of_work import transaction

# Rows fetched per round trip when streaming the chain (server-side cursor on PostgreSQL).
STREAM_BATCH = 10_000

_RECORD_COLUMNS = tuple(audit_records.c[name] for name in ChainRecord._fields)
_CHECKPOINT_COLUMNS = (
    audit_checkpoints.c.sequence,
    audit_checkpoints.c.hash,
    audit_checkpoints.c.at,
    audit_checkpoints.c.kind,
    audit_checkpoints.c.signature,
)
_CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")

# Built once: appends run thousands of times a second and statement construction dominates them.
_HEAD = (
    select(audit_records.c.sequence, audit_records.c.hash)
    .order_by(audit_records.c.sequence.desc())
    .limit(1)
)
_LAST_PURGE = (
    select(audit_checkpoints.c.sequence, audit_checkpoints.c.hash)
    .where(audit_checkpoints.c.kind == CheckpointKind.PURGE.value)
    .order_by(audit_checkpoints.c.sequence.desc())
    .limit(1)
)
_LAST_CHECKPOINT = select(*_CHECKPOINT_COLUMNS).order_by(audit_checkpoints.c.id.desc()).limit(1)
_INSERT_RECORD = insert(audit_records)
_INSERT_CHECKPOINT = insert(audit_checkpoints)
_POSTGRES_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.audit_chain'))")


@dataclass(frozen=True, slots=True)
class _DriverStatements:
    """The append's two statements as the driver's SQL, compiled once per dialect."""

    lock: str
    head: str
    insert: str
    positions: tuple[str, ...] | None  # the parameters' order for a positional paramstyle

    @classmethod
    def compile(cls, dialect: Dialect) -> _DriverStatements:
        # pysqlite begins lazily and never IMMEDIATE: BEGIN IMMEDIATE takes the write lock first.
        lock = "BEGIN IMMEDIATE" if dialect.name == "sqlite" else str(_POSTGRES_LOCK)
        head = _HEAD.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        insert = _INSERT_RECORD.compile(dialect=dialect, column_keys=list(ChainRecord._fields))
        positions = tuple(insert.positiontup or ()) if dialect.positional else None
        return cls(lock, str(head), str(insert), positions)

    def rows(self, records: Sequence[ChainRecord]) -> list[Any]:
        if self.positions is None:
            return [record._asdict() for record in records]
        return [tuple(getattr(record, name) for name in self.positions) for record in records]


# Keyed by driver and paramstyle too: two PostgreSQL drivers do not write parameters alike.
_DRIVER_STATEMENTS: dict[tuple[str, str, str], _DriverStatements] = {}


def _driver_statements(dialect: Dialect) -> _DriverStatements:
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    statements = _DRIVER_STATEMENTS.get(key)
    if statements is None:
        statements = _DRIVER_STATEMENTS[key] = _DriverStatements.compile(dialect)
    return statements


class LockedChain:
    """The chain inside one transaction that holds the append lock.

    ``lock``, ``head`` and ``insert`` run on every append, so they go through the driver's cursor
    with SQL compiled once: SQLAlchemy's per-statement work was most of an append's CPU.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._statements = _driver_statements(conn.dialect)

    def lock(self) -> None:
        """Take the append lock; the transaction's first statement."""
        with self._cursor() as cursor:
            cursor.execute(self._statements.lock)

    def lock_joined(self) -> None:
        """Take the append lock in a transaction that may have begun already (a unit of work).

        On SQLite a unit holds the single write lock from its start (``storage.unit_of_work``
        begins it IMMEDIATE), as does any transaction that has written: nothing to take. One not
        yet begun takes it with BEGIN IMMEDIATE.
        """
        if self._conn.dialect.name == "sqlite" and dbapi_connection(self._conn).in_transaction:
            return
        self.lock()

    def head(self) -> ChainPosition | None:
        """The last record, or the last purge point when every record was purged."""
        with self._cursor() as cursor:
            cursor.execute(self._statements.head)
            row = cursor.fetchone()
        if row is None:
            row = self._conn.execute(_LAST_PURGE).first()
        return None if row is None else ChainPosition(int(row[0]), str(row[1]))

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        cursor = dbapi_connection(self._conn).cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def last_checkpoint(self) -> Checkpoint | None:
        row = self._conn.execute(_LAST_CHECKPOINT).first()
        return None if row is None else _checkpoint(row)

    def insert(self, records: Sequence[ChainRecord]) -> None:
        with self._cursor() as cursor:
            cursor.executemany(self._statements.insert, self._statements.rows(records))

    def add_checkpoint(self, point: Checkpoint) -> None:
        values = point._asdict() | {"kind": point.kind.value, "signature": point.signature.hex()}
        self._conn.execute(_INSERT_CHECKPOINT, values)

    def position_before(self, at: str) -> ChainPosition | None:
        """The record just before the first one at or after ``at`` (canonical time text)."""
        first_kept = self._conn.execute(
            select(func.min(audit_records.c.sequence)).where(audit_records.c.at >= at)
        ).scalar()
        query = select(audit_records.c.sequence, audit_records.c.hash)
        if first_kept is not None:
            query = query.where(audit_records.c.sequence < first_kept)
        row = self._conn.execute(query.order_by(audit_records.c.sequence.desc()).limit(1)).first()
        return None if row is None else ChainPosition(int(row[0]), str(row[1]))

    def delete_through(self, sequence: int) -> int:
        """Delete records up to ``sequence`` and the checkpoints that only vouched for them."""
        result = self._conn.execute(
            delete(audit_records).where(audit_records.c.sequence <= sequence)
        )
        self._conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.sequence < sequence))
        return int(result.rowcount)


class AuditRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def locked(self) -> Iterator[LockedChain]:
        """One transaction holding the chain lock; commits on success, rolls back on error."""
        with self._engine.connect() as conn:
            # SQLAlchemy's begin sends nothing to either driver; the lock statement below is the
            # transaction's first, so the two are one transaction, committed or rolled back here.
            conn.begin()
            chain = LockedChain(conn)
            chain.lock()
            yield chain
            conn.commit()

    @contextmanager
    def locked_in_unit(self) -> Iterator[LockedChain]:
        """The chain lock in the open unit of work's transaction (``storage.unit_of_work``),
        held until the unit ends: what is appended is committed with the unit, never without it.

        On PostgreSQL the append runs in a savepoint, so that a failed one (logged by the audit
        sink) does not abort the unit's transaction; on SQLite a failed statement never does.
        """
        with transaction(self._engine) as conn:
            chain = LockedChain(conn)
            chain.lock_joined()
            if conn.dialect.name == "postgresql":
                with conn.begin_nested():
                    yield chain
            else:
                yield chain

    def checkpoints(self) -> list[Checkpoint]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(*_CHECKPOINT_COLUMNS).order_by(audit_checkpoints.c.id))
            return [_checkpoint(row) for row in rows]

    @contextmanager
    def records(
        self, *, after: int = 0, since: str | None = None
    ) -> Iterator[Iterator[ChainRecord]]:
        """Records in sequence order, streamed (never all in memory)."""
        query = select(*_RECORD_COLUMNS).where(audit_records.c.sequence > int(after))
        if since is not None:
            if not _CANONICAL_TIME.fullmatch(since):
                raise ValueError(f"not a canonical audit time: {since!r}")
            query = query.where(audit_records.c.at >= since)
        query = query.order_by(audit_records.c.sequence)
        with self._engine.connect() as conn:
            # The driver's own cursor: SQLAlchemy's result rows would halve verification speed.
            # Inlined values: an integer and a canonical time text (checked above), nothing else.
            sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            dbapi = dbapi_connection(conn)
            # A named cursor is server-side on PostgreSQL: rows arrive in batches, not all at once.
            postgres = conn.dialect.name == "postgresql"
            cursor = dbapi.cursor(name="audit_stream") if postgres else dbapi.cursor()
            try:
                cursor.arraysize = STREAM_BATCH
                if postgres:
                    cursor.itersize = STREAM_BATCH  # type: ignore[attr-defined]
                cursor.execute(sql)
                yield map(ChainRecord._make, iter(cursor))  # type: ignore[call-overload]
            finally:
                cursor.close()

    def latest(self, count: int) -> list[ChainRecord]:
        query = select(*_RECORD_COLUMNS).order_by(audit_records.c.sequence.desc()).limit(count)
        with self._engine.connect() as conn:
            rows = [ChainRecord._make(row) for row in conn.execute(query)]
        return rows[::-1]

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_records)).scalar_one())


def _checkpoint(row: Row[Any, Any, Any, Any, Any]) -> Checkpoint:
    sequence, hash_, at, kind, signature = row
    try:
        raw_signature = bytes.fromhex(signature)
    except ValueError:
        raw_signature = b""  # reported as a bad signature by verification
    try:
        point_kind = CheckpointKind(kind)
    except ValueError:
        point_kind = CheckpointKind.MANUAL  # an unknown kind cannot match its signature either
    return Checkpoint(int(sequence), hash_, at, point_kind, raw_signature)
