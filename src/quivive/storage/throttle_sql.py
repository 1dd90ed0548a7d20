"""Throttle counters in the database (the default backend): SQLite and PostgreSQL alike.

Writes are compare-and-set on a ``revision`` column (UPDATE ... WHERE revision = r; INSERT ... ON
CONFLICT DO NOTHING for a new key): a single statement each, atomic on both databases without
relying on isolation levels. A writer that loses the race reads again and retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Row, and_, delete, false, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from quivive.domain.throttling import Change, Counter, KeyKind, ThrottleKey, Written
from quivive.storage.tables import throttle_counters, throttle_observations

# A compare-and-set that loses this many times in a row gives up and refuses the attempt: under
# that much contention, refusing one login is better than letting a guess through uncounted.
MAX_CAS_TRIES = 200
_MARK_PREFIX = "mark:"

_c = throttle_counters.c
_o = throttle_observations.c


class SqlThrottleStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def read(self, keys: Sequence[ThrottleKey]) -> dict[ThrottleKey, Counter]:
        if not keys:
            return {}
        query = select(throttle_counters).where(or_(*(_is(key) for key in keys)))
        with self._engine.connect() as conn:
            return {_key(row): _counter(row) for row in conn.execute(query)}

    def update(self, key: ThrottleKey, change: Change, now: datetime) -> Written:
        stored = Counter()
        for _ in range(MAX_CAS_TRIES):
            with self._engine.begin() as conn:
                row = conn.execute(select(throttle_counters).where(_is(key))).first()
                stored = _counter(row) if row is not None else Counter()
                new = change(stored)
                if new is None:
                    return Written(False, stored)
                if row is None:
                    statement: Any = (
                        self._insert(throttle_counters)
                        .values(**_identity(key), **_values(new), revision=1)
                        .on_conflict_do_nothing()
                        .returning(_c.revision)
                    )
                else:
                    statement = (
                        update(throttle_counters)
                        .where(_is(key), _c.revision == row.revision)
                        .values(**_values(new), revision=row.revision + 1)
                        .returning(_c.revision)
                    )
                # RETURNING rather than rowcount: drivers report -1 for INSERT ... ON CONFLICT.
                if conn.execute(statement).first() is not None:
                    return Written(True, new)
        return Written(False, stored)

    def reset(self, keys: Sequence[ThrottleKey]) -> None:
        if keys:
            with self._engine.begin() as conn:
                conn.execute(delete(throttle_counters).where(or_(*(_is(key) for key in keys))))

    def clear(self, *, account: str | None = None, source: str | None = None) -> int:
        condition: ColumnElement[bool] = false()
        if account:
            condition = or_(condition, _c.account == account)
        if source:
            condition = or_(condition, _c.source == source)
        with self._engine.begin() as conn:
            return conn.execute(delete(throttle_counters).where(condition)).rowcount

    def entries(self) -> list[tuple[ThrottleKey, Counter]]:
        query = select(throttle_counters).order_by(_c.kind, _c.account, _c.source)
        with self._engine.connect() as conn:
            return [(_key(row), _counter(row)) for row in conn.execute(query)]

    def purge(self, now: datetime) -> int:
        with self._engine.begin() as conn:
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
        with self._engine.begin() as conn:
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
        with self._engine.begin() as conn:
            return conn.execute(claim).first() is not None


def _is(key: ThrottleKey) -> ColumnElement[bool]:
    return and_(_c.account == key.account, _c.source == key.source, _c.kind == key.kind.value)


def _identity(key: ThrottleKey) -> dict[str, str]:
    return {"account": key.account, "source": key.source, "kind": key.kind.value}


def _values(counter: Counter) -> dict[str, object]:
    return {
        "failures": counter.failures,
        "last_failure_at": counter.last_failure_at,
        "blocked_until": counter.blocked_until,
        "expires_at": counter.expires_at,
    }


def _key(row: Row[Any]) -> ThrottleKey:
    return ThrottleKey(KeyKind(row.kind), account=row.account, source=row.source)


def _counter(row: Row[Any]) -> Counter:
    return Counter(
        failures=row.failures,
        last_failure_at=row.last_failure_at,
        blocked_until=row.blocked_until,
        expires_at=row.expires_at,
    )
