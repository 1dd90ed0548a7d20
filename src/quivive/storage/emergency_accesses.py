"""Emergency-access repository: each use of "bris de glace", its limit and its review.

The limit ("at most N uses per user per 30 days") is a count followed by an insert, so two
parallel requests at the boundary must never both count N-1. The count and the insert run in one
transaction holding a lock: on SQLite the single write lock, taken up front (``BEGIN IMMEDIATE``;
a plain ``BEGIN`` takes it only at the insert, after both had counted); on PostgreSQL the
requesting user's row, ``SELECT ... FOR UPDATE``, so requests of different users do not wait for
each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, Row, and_, func, insert, select, update

from quivive.domain.emergency import EmergencyAccess, ReviewStatus, UseState
from quivive.storage.tables import emergency_accesses, sessions, users
from quivive.storage.unit_of_work import connection, transaction

_T = emergency_accesses


@dataclass(frozen=True, slots=True)
class NewEmergencyAccess:
    user_id: int
    started_at: datetime
    expires_at: datetime
    session_token_hash: str | None
    reason: str
    justification: str
    witness_name: str | None = None
    witness_user_id: int | None = None
    source_address: str | None = None


@dataclass(frozen=True, slots=True)
class EmergencyPage:
    items: list[EmergencyAccess]
    next_cursor: int | None  # pass as ``before`` for the next (older) page


class EmergencyAccessRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add_within_limit(
        self, use: NewEmergencyAccess, *, since: datetime, limit: int
    ) -> EmergencyAccess | None:
        """Insert ``use`` if the user has fewer than ``limit`` uses started after ``since``.

        None when the limit is reached (nothing written). Atomic under parallel calls.
        """
        # Never joins a unit of work: this takes its own lock with its own BEGIN (see _lock_user).
        with self._engine.connect() as conn:
            _lock_user(conn, use.user_id)
            if _count(conn, use.user_id, since) >= limit:
                conn.rollback()
                return None
            values = {name: getattr(use, name) for name in NewEmergencyAccess.__slots__}
            result = conn.execute(
                insert(_T).values(**values, review_status=ReviewStatus.PENDING.value)
            )
            key = result.inserted_primary_key
            if key is None:  # pragma: no cover - every backend returns the new id
                raise LookupError("no id for the new emergency access")
            new_id = int(key[0])
            conn.commit()
        found = self.get(new_id)
        if found is None:  # pragma: no cover - just inserted, and uses are never deleted here
            raise LookupError(f"emergency access {new_id} vanished")
        return found

    def count_since(self, user_id: int, since: datetime) -> int:
        with connection(self._engine) as conn:
            return _count(conn, user_id, since)

    def get(self, access_id: int) -> EmergencyAccess | None:
        with connection(self._engine) as conn:
            row = conn.execute(select(_T).where(_T.c.id == access_id)).first()
        return None if row is None else _to_access(row)

    def for_session(self, token_hash: str) -> EmergencyAccess | None:
        query = select(_T).where(_T.c.session_token_hash == token_hash)
        with connection(self._engine) as conn:
            row = conn.execute(query).first()
        return None if row is None else _to_access(row)

    def page(
        self,
        *,
        status: ReviewStatus | None = None,
        before: int | None = None,
        limit: int = 50,
        user_id: int | None = None,
    ) -> EmergencyPage:
        """Newest first; ``before`` is the cursor of the previous page; ``user_id``: one user's."""
        query = select(_T).order_by(_T.c.id.desc()).limit(limit + 1)
        if user_id is not None:
            query = query.where(_T.c.user_id == user_id)
        if status is not None:
            query = query.where(_T.c.review_status == status.value)
        if before is not None:
            query = query.where(_T.c.id < before)
        with connection(self._engine) as conn:
            found = [_to_access(row) for row in conn.execute(query)]
        more = len(found) > limit
        items = found[:limit]
        return EmergencyPage(items, items[-1].id if more and items else None)

    def pending_before(self, moment: datetime) -> list[EmergencyAccess]:
        """Unreviewed uses started before ``moment``, oldest first (overdue for review)."""
        query = (
            select(_T)
            .where(_T.c.review_status == ReviewStatus.PENDING.value, _T.c.started_at < moment)
            .order_by(_T.c.started_at)
        )
        with connection(self._engine) as conn:
            return [_to_access(row) for row in conn.execute(query)]

    def review(
        self,
        access_id: int,
        status: ReviewStatus,
        *,
        reviewer_id: int | None,
        at: datetime,
        comment: str,
    ) -> bool:
        """Record the review of a pending use; False if it was reviewed already (or is unknown).

        A compare-and-set on ``pending``: of two officers reviewing at once, one decision stands.
        """
        query = (
            update(_T)
            .where(_T.c.id == access_id, _T.c.review_status == ReviewStatus.PENDING.value)
            .values(
                review_status=status.value,
                reviewed_by_user_id=reviewer_id,
                reviewed_at=at,
                review_comment=comment,
            )
        )
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount == 1

    def states_from(self, first_id: int) -> list[UseState]:
        """Every use with an id from ``first_id`` on, and whether its session is live.

        The expiry sweep's one query: a primary-key range joined to ``sessions`` by its key.
        """
        joined = _T.outerjoin(sessions, sessions.c.token_hash == _T.c.session_token_hash)
        live = and_(sessions.c.token_hash.is_not(None), sessions.c.revoked_at.is_(None))
        query = (
            select(
                _T.c.id,
                _T.c.user_id,
                _T.c.session_token_hash,
                _T.c.started_at,
                _T.c.expires_at,
                live.label("live"),
            )
            .select_from(joined)
            .where(_T.c.id >= first_id)
            .order_by(_T.c.id)
        )
        with connection(self._engine) as conn:
            return [
                UseState(
                    row.id,
                    row.user_id,
                    row.session_token_hash,
                    row.started_at,
                    row.expires_at,
                    bool(row.live),
                )
                for row in conn.execute(query)
            ]


def _lock_user(conn: Connection, user_id: int) -> None:
    if conn.dialect.name == "sqlite":
        # pysqlite begins lazily and never IMMEDIATE: issue it ourselves, as the first statement.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())


def _count(conn: Connection, user_id: int, since: datetime) -> int:
    query = (
        select(func.count())
        .select_from(_T)
        .where(and_(_T.c.user_id == user_id, _T.c.started_at > since))
    )
    return int(conn.execute(query).scalar_one())


def _to_access(row: Row[tuple[object, ...]]) -> EmergencyAccess:
    m = row._mapping
    return EmergencyAccess(
        id=m["id"],
        user_id=m["user_id"],
        started_at=m["started_at"],
        expires_at=m["expires_at"],
        session_token_hash=m["session_token_hash"],
        reason=m["reason"],
        justification=m["justification"],
        witness_name=m["witness_name"],
        witness_user_id=m["witness_user_id"],
        source_address=m["source_address"],
        review_status=ReviewStatus(m["review_status"]),
        reviewed_by_user_id=m["reviewed_by_user_id"],
        reviewed_at=m["reviewed_at"],
        review_comment=m["review_comment"],
    )
