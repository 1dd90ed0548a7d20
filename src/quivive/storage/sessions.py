"""Session repository: rows keyed by the SHA-256 of the browser's token, never the token itself."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, Row, bindparam, delete, exists, func, insert, or_, select, update

from quivive.domain.sessions import AssuranceLevel, Session
from quivive.storage.session_validity import session_valid_at
from quivive.storage.tables import emergency_accesses, sessions

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
_FIND = _SESSIONS.where(sessions.c.token_hash == bindparam("token_hash"))
_INSERT = insert(sessions)


class SessionRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, session: Session) -> None:
        with self._engine.begin() as conn:
            conn.execute(_INSERT, _row(session))

    def find(self, token_hash: str) -> Session | None:
        with self._engine.connect() as conn:
            row = conn.execute(_FIND, {"token_hash": token_hash}).first()
        return None if row is None else _to_session(row)

    def for_user(self, user_id: int, *, now: datetime) -> list[Session]:
        query = _SESSIONS.where(sessions.c.user_id == user_id, session_valid_at(now)).order_by(
            sessions.c.last_seen_at.desc()
        )
        with self._engine.connect() as conn:
            return [_to_session(row) for row in conn.execute(query)]

    def touch(self, token_hash: str, now: datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(sessions).where(sessions.c.token_hash == token_hash).values(last_seen_at=now)
            )

    def replace(self, old_hash: str, now: datetime, new: Session) -> bool:
        """Revoke ``old_hash`` (compare-and-set: False if it was not live) and add ``new``, in
        one transaction: a rotation is one commit, and never leaves both sessions live."""
        with self._engine.begin() as conn:
            revoked = conn.execute(
                update(sessions)
                .where(sessions.c.token_hash == old_hash, sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if revoked.rowcount != 1:
                return False
            conn.execute(_INSERT, _row(new))
        return True

    def revoke(self, token_hash: str, now: datetime) -> bool:
        """Revoke one session; True if it was live (so callers audit only real revocations)."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(sessions)
                .where(sessions.c.token_hash == token_hash, sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return result.rowcount == 1

    def revoke_all_for_user(self, user_id: int, now: datetime, *, keep: str | None = None) -> int:
        query = update(sessions).where(
            sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)
        )
        if keep is not None:
            query = query.where(sessions.c.token_hash != keep)
        with self._engine.begin() as conn:
            return conn.execute(query.values(revoked_at=now)).rowcount

    def count_active(self, now: datetime) -> int:
        """Sessions usable at ``now`` (each row's own idle limit included), counted in SQL."""
        query = select(func.count()).select_from(sessions).where(session_valid_at(now))
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def purge(self, now: datetime, *, keep_revoked_for: timedelta) -> int:
        """Delete rows past their absolute expiry or revoked long ago."""
        query = delete(sessions).where(
            or_(sessions.c.expires_at < now, sessions.c.revoked_at < now - keep_revoked_for)
        )
        with self._engine.begin() as conn:
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


def _to_session(row: Row[tuple[object, ...]]) -> Session:
    m = row._mapping
    return Session(
        token_hash=m["token_hash"],
        user_id=m["user_id"],
        created_at=m["created_at"],
        auth_time=m["auth_time"],
        last_seen_at=m["last_seen_at"],
        idle_timeout=timedelta(seconds=m["idle_timeout_s"]),
        expires_at=m["expires_at"],
        amr=tuple(m["amr"].split()),
        aal=AssuranceLevel(m["aal"]),
        source_address=m["source_address"],
        user_agent=m["user_agent"],
        revoked_at=m["revoked_at"],
        emergency=bool(m["is_emergency"]),
    )
