"""Starting, resolving and ending sessions, with idle and absolute timeouts per assurance level."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from quivive.clock import Clock
from quivive.domain.sessions import (
    AssuranceLevel,
    Session,
    hash_token,
    new_session_token,
    timeouts_for,
)
from quivive.domain.users import User
from quivive.errors import NotFoundError
from quivive.storage.sessions import SessionRepository
from quivive.storage.users import UserRepository

# last_seen_at is written at most this often per session: a write per page view would make
# SQLite's single writer the bottleneck. Idle expiry is therefore accurate to within this interval.
TOUCH_INTERVAL = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_timeout: timedelta
    absolute_timeout: timedelta


@dataclass(frozen=True, slots=True)
class ActiveSession:
    token: str
    session: Session
    user: User


class SessionService:
    def __init__(
        self,
        sessions: SessionRepository,
        users: UserRepository,
        policy: SessionPolicy,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._users = users
        self._policy = policy
        self._clock = clock

    def start(
        self,
        user: User,
        *,
        amr: tuple[str, ...],
        aal: AssuranceLevel,
        source_address: str | None,
        user_agent: str | None,
    ) -> str:
        """Create a session with a brand-new identifier (never reuse one across authentications)."""
        now = self._clock.now()
        idle, absolute = timeouts_for(aal, self._policy.idle_timeout, self._policy.absolute_timeout)
        token, token_hash = new_session_token()
        self._sessions.add(
            Session(
                token_hash=token_hash,
                user_id=user.id,
                created_at=now,
                auth_time=now,
                last_seen_at=now,
                idle_timeout=idle,
                expires_at=now + absolute,
                amr=amr,
                aal=aal,
                source_address=source_address,
                user_agent=(user_agent or "")[:512] or None,
                revoked_at=None,
            )
        )
        return token

    def resolve(self, token: str) -> ActiveSession | None:
        """The live session for ``token`` and its active user, or None; refreshes the idle timer."""
        session = self._sessions.find(hash_token(token))
        now = self._clock.now()
        if session is None or not session.is_valid_at(now):
            return None
        try:
            user = self._users.get(session.user_id)
        except NotFoundError:
            return None
        if not user.is_active:
            return None
        if now - session.last_seen_at >= TOUCH_INTERVAL:
            self._sessions.touch(session.token_hash, now)
        return ActiveSession(token=token, session=session, user=user)

    def end(self, token: str) -> bool:
        return self._sessions.revoke(hash_token(token), self._clock.now())

    def end_all_for_user(self, user_id: int, *, keep_token: str | None = None) -> int:
        keep = hash_token(keep_token) if keep_token else None
        return self._sessions.revoke_all_for_user(user_id, self._clock.now(), keep=keep)

    def list_for_user(self, user_id: int) -> list[Session]:
        return self._sessions.for_user(user_id, now=self._clock.now())
