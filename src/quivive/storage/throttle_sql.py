"""Throttle counters in the database (the default backend): SQLite and PostgreSQL alike.

Writes are compare-and-set on a ``revision`` column (UPDATE ... WHERE revision = r; INSERT ... ON
CONFLICT DO NOTHING for a new key): a single statement each, atomic on both databases without
relying on isolation levels. A writer that loses the race reads again and retries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from quivive.domain.throttling import (
    Change,
    Counter,
    KeyKind,
    ThrottleKey,
    Written,
    refused_as_read,
)
from quivive.storage.driver_sql import DriverStatement
from quivive.storage.tables import throttle_counters, throttle_observations
from quivive.storage.unit_of_work import connection, transaction

# A compare-and-set that loses this many times in a row gives up and refuses the attempt: under
# that much contention, refusing one login is better than letting a guess through uncounted.
MAX_CAS_TRIES = 200
_MARK_PREFIX = "mark:"

_c = throttle_counters.c
# A row of throttle_counters, attributes by column name: SQLAlchemy's or a DriverStatement's.
_CounterRow = Any
_o = throttle_observations.c

# The statements of every login, built once with bind parameters: building a SQLAlchemy expression
# and its cache key per call cost more CPU than SQLite's work on it (~2.5 ms per login, measured).
_THIS_KEY = and_(
    _c.account == bindparam("k_account"),
    _c.source == bindparam("k_source"),
    _c.kind == bindparam("k_kind"),
)
_SELECT_ONE = DriverStatement(select(throttle_counters).where(_THIS_KEY))
_DELETE_ONE = DriverStatement(delete(throttle_counters).where(_THIS_KEY))
# Every (account, source) combination of the keys asked for; the rows not asked for are dropped.
_SELECT_MANY = select(throttle_counters).where(
    _c.account.in_(bindparam("accounts", expanding=True)),
    _c.source.in_(bindparam("sources", expanding=True)),
)
# The same for at most two accounts and two sources (every attempt: its account, its address and
# ""), with plain bind parameters: an expanding IN is rendered again at each execution (~100 µs).
_SELECT_TWO_BY_TWO = DriverStatement(
    select(throttle_counters).where(
        _c.account.in_([bindparam("account_1"), bindparam("account_2")]),
        _c.source.in_([bindparam("source_1"), bindparam("source_2")]),
    )
)
# ``domain.throttling.refund`` as one statement: the source counter is the one every sign-in
# from a ward's NAT address refunds, and a read then compare-and-set on it made each success
# from that address contend with all the others (and cost a statement more). The decrement is
# atomic on both databases; the new revision makes a compare-and-set that read before it retry.
_REFUND = DriverStatement(
    update(throttle_counters)
    .where(
        _THIS_KEY,
        _c.failures > 0,
        or_(_c.expires_at.is_(None), _c.expires_at > bindparam("now")),
    )
    .values(failures=_c.failures - 1, revision=_c.revision + 1)
)
_COUNTER_VALUES: dict[str, BindParameter[Any]] = {
    "failures": bindparam("v_failures"),
    "last_failure_at": bindparam("v_last_failure_at"),
    "blocked_until": bindparam("v_blocked_until"),
    "expires_at": bindparam("v_expires_at"),
}
_CAS_UPDATE = DriverStatement(
    update(throttle_counters)
    .where(_THIS_KEY, _c.revision == bindparam("expected_revision"))
    .values(**_COUNTER_VALUES, revision=bindparam("new_revision"))
    .returning(_c.revision)
)


class SqlThrottleStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._insert_new = DriverStatement(
            self._insert(throttle_counters)
            .values(
                account=bindparam("k_account"),
                source=bindparam("k_source"),
                kind=bindparam("k_kind"),
                **_COUNTER_VALUES,
                revision=1,
            )
            .on_conflict_do_nothing()
            .returning(_c.revision)
        )

    def read(self, keys: Sequence[ThrottleKey]) -> dict[ThrottleKey, Counter]:
        if not keys:
            return {}
        wanted = set(keys)
        with connection(self._engine) as conn:
            rows = _select_many(conn, keys)
        return {key: _counter(row) for key, row in rows.items() if key in wanted}

    def update(self, key: ThrottleKey, change: Change, now: datetime) -> Written:
        stored = Counter()
        identity = _key_parameters(key)
        for _ in range(MAX_CAS_TRIES):
            with transaction(self._engine) as conn:
                written, final = self._compare_and_set(conn, identity, change)
            if final:
                return written
            stored = written.counter
        return Written(False, stored)

    def update_each(
        self, changes: Sequence[tuple[ThrottleKey, Change]], now: datetime
    ) -> list[Written]:
        # One transaction for an attempt's three counters (two commits less per sign-in). A lost
        # compare-and-set retries inside it: the retry's read sees what the winner committed
        # (SQLite: this transaction holds the write lock from its first write; PostgreSQL: read
        # committed). Every caller takes the keys in the order of ``attempt_keys``, so two such
        # transactions never wait for each other in a cycle.
        # The counters are read with one statement, not one per key: each first compare-and-set
        # uses that row, and only a lost one reads its key again (two statements less per login).
        results: list[Written] = []
        with transaction(self._engine) as conn:
            rows = _select_many(conn, [key for key, _ in changes])
            refused = refused_as_read(changes, {key: _counter(row) for key, row in rows.items()})
            if refused is not None:
                return refused  # the hammering client's usual answer: nothing written
            for key, change in changes:
                identity = _key_parameters(key)
                written, final = self._write_over(conn, identity, change, rows.get(key))
                if not final:
                    written = self._update_in(conn, identity, change)
                results.append(written)
                if not written.written:
                    break
        return results

    def _update_in(self, conn: Connection, identity: dict[str, str], change: Change) -> Written:
        stored = Counter()
        for _ in range(MAX_CAS_TRIES):
            written, final = self._compare_and_set(conn, identity, change)
            if final:
                return written
            stored = written.counter
        return Written(False, stored)

    def reset(self, keys: Sequence[ThrottleKey]) -> None:
        if keys:
            with transaction(self._engine) as conn:
                _DELETE_ONE.execute_many(conn, [_key_parameters(key) for key in keys])

    def reset_then_refund(
        self, keys: Sequence[ThrottleKey], key: ThrottleKey, now: datetime
    ) -> None:
        # One transaction for a successful login's reset and refund (one commit less per login).
        # The refund comes first: ``update_each`` takes the source counter before the others, and
        # the same order here keeps a sign-in's reset from waiting on an attempt that waits on it.
        with transaction(self._engine) as conn:
            _REFUND.execute(conn, {**_key_parameters(key), "now": now})
            if keys:
                _DELETE_ONE.execute_many(conn, [_key_parameters(k) for k in keys])

    def _compare_and_set(
        self, conn: Connection, identity: dict[str, str], change: Change
    ) -> tuple[Written, bool]:
        """One try: what was written (or refused), and False if another writer got there first."""
        return self._write_over(conn, identity, change, _SELECT_ONE.first(conn, identity))

    def _write_over(
        self, conn: Connection, identity: dict[str, str], change: Change, row: _CounterRow | None
    ) -> tuple[Written, bool]:
        """``_compare_and_set`` given the row as read (None: no counter yet)."""
        stored = _counter(row) if row is not None else Counter()
        new = change(stored)
        if new is None:
            return Written(False, stored), True
        values = {f"v_{name}": value for name, value in _values(new).items()}
        if row is None:
            statement = self._insert_new
            parameters = {**identity, **values}
        else:
            statement = _CAS_UPDATE
            revision = {"expected_revision": row.revision, "new_revision": row.revision + 1}
            parameters = {**identity, **values, **revision}
        # RETURNING rather than rowcount: drivers report -1 for INSERT ... ON CONFLICT.
        if statement.first(conn, parameters) is not None:
            return Written(True, new), True
        return Written(False, stored), False

    def clear(self, *, account: str | None = None, source: str | None = None) -> int:
        condition: ColumnElement[bool] = false()
        if account:
            condition = or_(condition, _c.account == account)
        if source:
            condition = or_(condition, _c.source == source)
        with transaction(self._engine) as conn:
            return conn.execute(delete(throttle_counters).where(condition)).rowcount

    def entries(self) -> list[tuple[ThrottleKey, Counter]]:
        query = select(throttle_counters).order_by(_c.kind, _c.account, _c.source)
        with connection(self._engine) as conn:
            return [(_key(row), _counter(row)) for row in conn.execute(query)]

    def purge(self, now: datetime) -> int:
        with transaction(self._engine) as conn:
            counters = conn.execute(delete(throttle_counters).where(_c.expires_at <= now))
            seen = conn.execute(delete(throttle_observations).where(_o.expires_at <= now))
            return counters.rowcount + seen.rowcount

    def observe(
        self, topic: str, subject: str, member: str, now: datetime, window: timedelta
    ) -> int:
        row = {"topic": topic, "subject": subject, "member": member, "expires_at": now + window}
        upsert = self._insert(throttle_observations).values(**row)
        upsert = upsert.on_conflict_do_update(
            index_elements=[_o.topic, _o.subject, _o.member],
            set_={"expires_at": upsert.excluded.expires_at},
        )
        count = (
            select(func.count())
            .select_from(throttle_observations)
            .where(_o.topic == topic, _o.subject == subject, _o.expires_at > now)
        )
        with transaction(self._engine) as conn:
            conn.execute(upsert)
            return int(conn.execute(count).scalar_one())

    def first_in_window(self, topic: str, subject: str, now: datetime, window: timedelta) -> bool:
        mark = {"topic": _MARK_PREFIX + topic, "subject": subject, "member": ""}
        upsert = self._insert(throttle_observations).values(**mark, expires_at=now + window)
        # One statement: it inserts, or refreshes an expired mark, or (mark still live) does
        # nothing and returns no row. Only one of several concurrent callers gets a row back.
        claim = upsert.on_conflict_do_update(
            index_elements=[_o.topic, _o.subject, _o.member],
            set_={"expires_at": upsert.excluded.expires_at},
            where=throttle_observations.c.expires_at <= now,
        ).returning(_o.topic)
        with transaction(self._engine) as conn:
            return conn.execute(claim).first() is not None


def _select_many(conn: Connection, keys: Sequence[ThrottleKey]) -> dict[ThrottleKey, _CounterRow]:
    """The rows of ``keys`` (and maybe of other combinations of their accounts and sources)."""
    if not keys:
        return {}
    accounts = sorted({key.account for key in keys})
    sources = sorted({key.source for key in keys})
    if len(accounts) > 2 or len(sources) > 2:
        return _rows_by_key(conn.execute(_SELECT_MANY, {"accounts": accounts, "sources": sources}))
    parameters = {
        "account_1": accounts[0],
        "account_2": accounts[-1],
        "source_1": sources[0],
        "source_2": sources[-1],
    }
    return _rows_by_key(_SELECT_TWO_BY_TWO.rows(conn, parameters))


def _rows_by_key(rows: Iterable[_CounterRow]) -> dict[ThrottleKey, _CounterRow]:
    # Rows of other key combinations may come back too (see _SELECT_MANY); callers pick theirs.
    return {_key(row): row for row in rows}


def _key_parameters(key: ThrottleKey) -> dict[str, str]:
    return {"k_account": key.account, "k_source": key.source, "k_kind": key.kind.value}


def _values(counter: Counter) -> dict[str, object]:
    return {
        "failures": counter.failures,
        "last_failure_at": counter.last_failure_at,
        "blocked_until": counter.blocked_until,
        "expires_at": counter.expires_at,
    }


def _key(row: _CounterRow) -> ThrottleKey:
    return ThrottleKey(KeyKind(row.kind), account=row.account, source=row.source)


def _counter(row: _CounterRow) -> Counter:
    return Counter(
        failures=row.failures,
        last_failure_at=row.last_failure_at,
        blocked_until=row.blocked_until,
        expires_at=row.expires_at,
    )
