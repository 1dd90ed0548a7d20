"""Outbound deliveries waiting in the database, claimed with a lease (compare-and-set).

A node claims a due delivery by setting ``claimed_until`` in an UPDATE whose WHERE clause
repeats the "due and not leased" test: when two nodes race for the same row, the database lets
one UPDATE match and the other sees the lease already taken (PostgreSQL re-checks the WHERE
clause on the row after the first transaction commits; SQLite serialises writers). A node that
dies while sending leaves a lease that simply runs out, and another node retries.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, delete, func, insert, or_, select, update

from quivive.storage.tables import outbound_deliveries as table
from quivive.storage.unit_of_work import connection, transaction

PENDING = "pending"
FAILED = "failed"  # gave up after the last attempt; kept for the dashboard and investigation
# Longer errors are cut: the column is for a person reading it, not a full trace.
MAX_ERROR_CHARS = 200
CANDIDATE_SLACK = 10


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    id: int
    kind: str
    payload: Mapping[str, Any]
    attempts: int  # made before this one


class OutboundDeliveryRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, kind: str, payload: Mapping[str, Any], now: datetime) -> int:
        values = {
            "kind": kind,
            "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True),
            "status": PENDING,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        with transaction(self._engine) as conn:
            result = conn.execute(insert(table).values(**values).returning(table.c.id))
            return int(result.scalar_one())

    def claim_due(
        self, kinds: Collection[str], now: datetime, lease_until: datetime, limit: int
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries of ``kinds``; each is claimed by one caller only.

        A few more candidates than ``limit`` are read, so that losing a race for the oldest to
        another node still leaves this one something to send.
        """
        with connection(self._engine) as conn:
            candidates = conn.execute(
                select(table.c.id)
                .where(_claimable(kinds, now))
                .order_by(table.c.next_attempt_at, table.c.id)
                .limit(limit + CANDIDATE_SLACK)
            ).scalars()
            ids = list(candidates)
        claimed: list[ClaimedDelivery] = []
        for row_id in ids:
            delivery = self._claim(row_id, kinds, now, lease_until)
            if delivery is not None:
                claimed.append(delivery)
            if len(claimed) == limit:
                break
        return claimed

    def _claim(
        self, row_id: int, kinds: Collection[str], now: datetime, lease_until: datetime
    ) -> ClaimedDelivery | None:
        with transaction(self._engine) as conn:
            row = conn.execute(
                update(table)
                .where(table.c.id == row_id, _claimable(kinds, now))
                .values(claimed_until=lease_until)
                .returning(table.c.id, table.c.kind, table.c.payload, table.c.attempts)
            ).first()
        if row is None:
            return None  # another node (or thread) leased it first
        return ClaimedDelivery(row.id, row.kind, json.loads(row.payload), row.attempts)

    def delete(self, row_id: int) -> None:
        with transaction(self._engine) as conn:
            conn.execute(delete(table).where(table.c.id == row_id))

    def reschedule(self, row_id: int, attempts: int, next_attempt_at: datetime, error: str) -> None:
        self._release(row_id, attempts, error, next_attempt_at=next_attempt_at)

    def give_up(self, row_id: int, attempts: int, error: str) -> None:
        # The row stays to be counted; its payload goes, as no one will send it: an e-mail body
        # may hold a set-up link that should not outlive its purpose in the database.
        self._release(row_id, attempts, error, status=FAILED, payload="{}")

    def delete_failed_before(self, cutoff: datetime) -> int:
        """Forget deliveries given up before ``cutoff`` (their last attempt); how many."""
        with transaction(self._engine) as conn:
            result = conn.execute(
                delete(table).where(table.c.status == FAILED, table.c.next_attempt_at < cutoff)
            )
        return result.rowcount

    def _release(self, row_id: int, attempts: int, error: str, **values: Any) -> None:
        with transaction(self._engine) as conn:
            conn.execute(
                update(table)
                .where(table.c.id == row_id)
                .values(
                    attempts=attempts,
                    claimed_until=None,
                    last_error=error[:MAX_ERROR_CHARS],
                    **values,
                )
            )

    def count_due(self, kinds: Collection[str], now: datetime) -> int:
        """Pending deliveries of ``kinds`` whose attempt time has come, leased or not."""
        return self._count(
            table.c.status == PENDING,
            table.c.kind.in_(list(kinds)),
            table.c.next_attempt_at <= now,
        )

    def count_failed(self) -> int:
        return self._count(table.c.status == FAILED)

    def _count(self, *conditions: ColumnElement[bool]) -> int:
        with connection(self._engine) as conn:
            return int(conn.execute(select(func.count()).where(*conditions)).scalar_one())

    def next_attempt_at(self, kinds: Collection[str], now: datetime) -> datetime | None:
        """When the earliest unleased pending delivery of ``kinds`` is due (the worker sleeps
        until then); one leased by a node still sending it is that node's business."""
        with connection(self._engine) as conn:
            due: datetime | None = conn.execute(
                select(func.min(table.c.next_attempt_at)).where(
                    table.c.status == PENDING,
                    table.c.kind.in_(list(kinds)),
                    or_(table.c.claimed_until.is_(None), table.c.claimed_until <= now),
                )
            ).scalar_one()
        return due


def _claimable(kinds: Collection[str], now: datetime) -> ColumnElement[bool]:
    return and_(
        table.c.status == PENDING,
        table.c.kind.in_(list(kinds)),
        table.c.next_attempt_at <= now,
        or_(table.c.claimed_until.is_(None), table.c.claimed_until <= now),
    )
