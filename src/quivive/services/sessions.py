"""Starting, resolving and ending sessions, with idle and absolute timeouts per assurance level."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from quivive.clock import Clock
from quivive.domain.sessions import (
    AssuranceLevel,
    Session,
    hash_token,
    new_session_token,
    timeouts_for,
)
from quivive.domain.users import User
from quivive.errors import NotFoundError, PermissionDenied, SessionInvalid
from quivive.storage.sessions import SessionRepository
from quivive.storage.users import UserRepository

# last_seen_at is written at most this often per session: a write per page view would make
# SQLite's single writer the bottleneck. Idle expiry is therefore accurate to within this interval.
TOUCH_INTERVAL = timedelta(seconds=30)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_timeout: timedelta
    absolute_timeout: timedelta


class SessionEndListener(Protocol):
    """Told when sessions end (the OIDC provider revokes grants and tells relying parties)."""

    def session_ended(self, token_hash: str, user_id: int) -> None: ...

    def user_sessions_ended(self, user_id: int) -> None: ...


class SessionRotationListener(Protocol):
    def session_rotated(self, old_hash: str, new_hash: str) -> None:
        """The session got a new identifier (step-up): what was tied to the old one moves."""
        ...


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
        *,
        timeouts: Callable[[AssuranceLevel], tuple[timedelta, timedelta]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._users = users
        self._policy = policy
        self._clock = clock
        # The timeouts in force (console overrides, services.policies); else the policy's own.
        self._timeouts = timeouts
        self._listeners: list[SessionEndListener] = []
        self._rotation_listeners: list[SessionRotationListener] = []

    def _timeouts_for(self, aal: AssuranceLevel) -> tuple[timedelta, timedelta]:
        if self._timeouts is not None:
            return self._timeouts(aal)
        return timeouts_for(aal, self._policy.idle_timeout, self._policy.absolute_timeout)

    def subscribe(self, listener: SessionEndListener) -> None:
        self._listeners.append(listener)

    def subscribe_rotation(self, listener: SessionRotationListener) -> None:
        self._rotation_listeners.append(listener)

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
        idle, absolute = self._timeouts_for(aal)
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

    def start_emergency(
        self,
        user: User,
        token_hash: str,
        *,
        lifetime: timedelta,
        source_address: str | None,
        user_agent: str | None,
    ) -> datetime:
        """Store an emergency session for ``token_hash``: password only, ``lifetime`` at most.

        The caller made the token and recorded the use against it first, so the session is an
        emergency one from its first request. Returns its absolute end.
        """
        now = self._clock.now()
        idle, absolute = self._timeouts_for(AssuranceLevel.AAL1)
        expires_at = now + min(lifetime, absolute)
        self._sessions.add(
            Session(
                token_hash=token_hash,
                user_id=user.id,
                created_at=now,
                auth_time=now,
                last_seen_at=now,
                idle_timeout=idle,
                expires_at=expires_at,
                amr=("pwd",),
                aal=AssuranceLevel.AAL1,
                source_address=source_address,
                user_agent=(user_agent or "")[:512] or None,
                revoked_at=None,
                emergency=True,
            )
        )
        return expires_at

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

    def find_live(self, token: str) -> Session:
        """The live session for ``token`` (without touching it); ``SessionInvalid`` otherwise."""
        session = self._sessions.find(hash_token(token))
        if session is None or not session.is_valid_at(self._clock.now()):
            raise SessionInvalid()
        return session

    def rotate(
        self,
        token: str,
        *,
        amr: tuple[str, ...],
        aal: AssuranceLevel,
        source_address: str | None,
        user_agent: str | None,
        current: Session | None = None,
    ) -> str:
        """Replace the session after a new authentication (second factor, step-up, re-auth).

        The old identifier is revoked first, with a compare-and-set: of two parallel upgrades of
        one session only one gets a new identifier. ``auth_time`` becomes now; the timeouts are
        those of the new level, the absolute one still counted from the original sign-in.
        ``current`` is the session of ``token`` when the caller has just read it (saves a read;
        the compare-and-set still refuses a session revoked since).
        """
        old = self._live(token, current)
        if old.emergency:
            # Never renewed (issue 8): a step-up or re-authentication would give it a new life.
            # The user signs out and signs in normally once their factor is back.
            raise PermissionDenied("an emergency session cannot be renewed")
        now = self._clock.now()
        idle, absolute = self._timeouts_for(aal)
        new_token, token_hash = new_session_token()
        replaced = self._sessions.replace(
            old.token_hash,
            now,
            Session(
                token_hash=token_hash,
                user_id=old.user_id,
                created_at=old.created_at,
                auth_time=now,
                last_seen_at=now,
                idle_timeout=idle,
                expires_at=old.created_at + absolute,
                amr=amr,
                aal=aal,
                source_address=source_address,
                user_agent=(user_agent or "")[:512] or None,
                revoked_at=None,
            ),
        )
        if not replaced:
            raise SessionInvalid()
        for listener in self._rotation_listeners:
            listener.session_rotated(old.token_hash, token_hash)
        return new_token

    def _live(self, token: str, current: Session | None) -> Session:
        if current is None or current.token_hash != hash_token(token):
            return self.find_live(token)
        if not current.is_valid_at(self._clock.now()):
            raise SessionInvalid()
        return current

    def end(self, token: str) -> bool:
        token_hash = hash_token(token)
        session = self._sessions.find(token_hash) if self._listeners else None
        ended = self._sessions.revoke(token_hash, self._clock.now())
        if ended and session is not None:
            self._tell(lambda listener: listener.session_ended(token_hash, session.user_id))
        return ended

    def end_all_for_user(self, user_id: int, *, keep_token: str | None = None) -> int:
        keep = hash_token(keep_token) if keep_token else None
        live = self.list_for_user(user_id) if keep and self._listeners else []
        ended = self._sessions.revoke_all_for_user(user_id, self._clock.now(), keep=keep)
        if keep is None:
            self._tell(lambda listener: listener.user_sessions_ended(user_id))
        for session in live:
            if session.token_hash != keep:
                self._tell_ended(session.token_hash, user_id)
        return ended

    def _tell_ended(self, token_hash: str, user_id: int) -> None:
        self._tell(lambda listener: listener.session_ended(token_hash, user_id))

    def _tell(self, call: Callable[[SessionEndListener], None]) -> None:
        for listener in self._listeners:
            try:
                call(listener)
            except Exception:
                # The session is ended whatever a listener does; its failure is logged, not raised.
                log.exception("session end listener %r failed", listener)

    def end_for_user(self, user_id: int, token_hash: str) -> bool:
        """End one of the user's sessions by its stored hash (the account page's "revoke")."""
        owned = any(s.token_hash == token_hash for s in self.list_for_user(user_id))
        ended = owned and self._sessions.revoke(token_hash, self._clock.now())
        if ended:
            self._tell(lambda listener: listener.session_ended(token_hash, user_id))
        return ended

    def end_expired(self, token_hash: str, user_id: int) -> bool:
        """Revoke a session past its end and tell the listeners (the gate of this node, Redis);
        True for the one caller, of all nodes, whose compare-and-set revoked it."""
        ended = self._sessions.revoke(token_hash, self._clock.now())
        if ended:
            self._tell_ended(token_hash, user_id)
        return ended

    def list_for_user(self, user_id: int) -> list[Session]:
        return self._sessions.for_user(user_id, now=self._clock.now())
