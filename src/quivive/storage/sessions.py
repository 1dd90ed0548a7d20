"""Session repository: rows keyed by the SHA-256 of the browser's token, never the token itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, delete, exists, func, insert, or_, select, update

from quivive.domain.sessions import AssuranceLevel, Session
from quivive.storage.driver_sql import DriverStatement
from quivive.storage.session_validity import session_valid_at
from quivive.storage.tables import emergency_accesses, sessions
from quivive.storage.unit_of_work import connection, transaction

# A node still on the release before migration 0015 (a rolling upgrade on PostgreSQL) stores an
# emergency session without the flag, but names it in emergency_accesses first: either says so,
# or the gate and relying parties would take it for an ordinary session. The lookup is indexed.
_EMERGENCY = or_(
    sessions.c.emergency,
    exists().where(emergency_accesses.c.session_token_hash == sessions.c.token_hash),
).label("is_emergency")
_SESSIONS = select(sessions, _EMERGENCY)

# Built once: every sign-in and signed-in request runs these, and building a statement per call
# (and its cache key) cost more CPU than the database's work on it.
_FIND = DriverStatement(_SESSIONS.where(sessions.c.token_hash == bindparam("token_hash")))
_INSERT = DriverStatement(insert(sessions).values({c.key: bindparam(c.key) for c in sessions.c}))
_TOUCH = DriverStatement(
    update(sessions)
    .where(sessions.c.token_hash == bindparam("token_hash"))
    .values(last_seen_at=bindparam("now"))
)
# Only a live session is revoked: callers audit only real revocations, and a rotation's
# compare-and-set (two parallel upgrades of one session) lets one win.
_REVOKE = DriverStatement(
    update(sessions)
    .where(sessions.c.token_hash == bindparam("token_hash"), sessions.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)


class SessionRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, session: Session) -> None:
        with transaction(self._engine) as conn:
            _INSERT.execute(conn, _row(session))

    def find(self, token_hash: str) -> Session | None:
        with connection(self._engine) as conn:
            row = _FIND.first(conn, {"token_hash": token_hash})
        return None if row is None else _to_session(row)

    def for_user(self, user_id: int, *, now: datetime) -> list[Session]:
        query = _SESSIONS.where(sessions.c.user_id == user_id, session_valid_at(now)).order_by(
            sessions.c.last_seen_at.desc()
        )
        with connection(self._engine) as conn:
            return [_to_session(row) for row in conn.execute(query)]

    def touch(self, token_hash: str, now: datetime) -> None:
        with transaction(self._engine) as conn:
            _TOUCH.execute(conn, {"token_hash": token_hash, "now": now})

    def replace(self, old_hash: str, now: datetime, new: Session) -> bool:
        """Revoke ``old_hash`` (compare-and-set: False if it was not live) and add ``new``, in
        one transaction: a rotation is one commit, and never leaves both sessions live."""
        with transaction(self._engine) as conn:
            if _REVOKE.execute(conn, {"token_hash": old_hash, "now": now}) != 1:
                return False
            _INSERT.execute(conn, _row(new))
        return True

    def revoke(self, token_hash: str, now: datetime) -> bool:
        """Revoke one session; True if it was live (so callers audit only real revocations)."""
        with transaction(self._engine) as conn:
            return _REVOKE.execute(conn, {"token_hash": token_hash, "now": now}) == 1

    def revoke_all_for_user(self, user_id: int, now: datetime, *, keep: str | None = None) -> int:
        query = update(sessions).where(
            sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)
        )
        if keep is not None:
            query = query.where(sessions.c.token_hash != keep)
        with transaction(self._engine) as conn:
            return conn.execute(query.values(revoked_at=now)).rowcount

    def count_active(self, now: datetime) -> int:
        """Sessions usable at ``now`` (each row's own idle limit included), counted in SQL."""
        query = select(func.count()).select_from(sessions).where(session_valid_at(now))
        with connection(self._engine) as conn:
            return int(conn.execute(query).scalar_one())

    def purge(self, now: datetime, *, keep_revoked_for: timedelta) -> int:
        """Delete rows past their absolute expiry or revoked long ago."""
        query = delete(sessions).where(
            or_(sessions.c.expires_at < now, sessions.c.revoked_at < now - keep_revoked_for)
        )
        with transaction(self._engine) as conn:
            return conn.execute(query).rowcount


def _row(session: Session) -> dict[str, object]:
    return {
        "token_hash": session.token_hash,
        "user_id": session.user_id,
        "created_at": session.created_at,
        "auth_time": session.auth_time,
        "last_seen_at": session.last_seen_at,
        "idle_timeout_s": int(session.idle_timeout.total_seconds()),
        "expires_at": session.expires_at,
        "amr": " ".join(session.amr),
        "aal": int(session.aal),
        "source_address": session.source_address,
        "user_agent": session.user_agent,
        "revoked_at": session.revoked_at,
        "emergency": session.emergency,
    }


def _to_session(row: Any) -> Session:
    """A row of ``_SESSIONS``: SQLAlchemy's or a DriverStatement's (both name their columns)."""
    return Session(
        token_hash=row.token_hash,
        user_id=row.user_id,
        created_at=row.created_at,
        auth_time=row.auth_time,
        last_seen_at=row.last_seen_at,
        idle_timeout=timedelta(seconds=row.idle_timeout_s),
        expires_at=row.expires_at,
        amr=tuple(row.amr.split()),
        aal=AssuranceLevel(row.aal),
        source_address=row.source_address,
        user_agent=row.user_agent,
        revoked_at=row.revoked_at,
        emergency=bool(row.is_emergency),
    )
