"""The forward-auth gate's hot path: resolved sessions cached in-process, revocations polled.

``/api/verify`` runs before every request to every protected application, so it must not cost a
database round trip each time. A resolved session (user, level, whether its sign-in is complete)
is kept in memory for ``CACHE_TTL``, keyed by the token's SHA-256. What could make a cached entry
wrong, and how long it can stay wrong:

- sign-out, disable, step-up rotation on *this* node: dropped at once (``SessionEndListener``);
- the same on *another* node (or by the CLI): every ``POLL_INTERVAL`` one request asks the
  revocation feed what was revoked since the last poll (Redis when configured, else the
  ``sessions.revoked_at`` column) and drops those entries: effective within about a second;
- idle and absolute expiry: checked on every hit against the cached timestamps;
- role or name changes: at most ``CACHE_TTL``, when the entry is loaded again.

The poll is one query per node per second, whatever the request rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from quivive.clock import Clock
from quivive.domain.gate import Identity
from quivive.domain.sessions import hash_token
from quivive.services.mfa import MfaService, Step
from quivive.services.sessions import SessionService

# Role changes reach the gate within this time; revocations much faster (POLL_INTERVAL).
CACHE_TTL_S = 15.0
POLL_INTERVAL_S = 1.0
# Revocations are looked up from a little before the last poll: other nodes' clocks may lag ours.
POLL_OVERLAP = timedelta(seconds=10)
# Bounds memory under a flood of distinct tokens; the oldest entries go first.
MAX_CACHED_SESSIONS = 100_000


@dataclass(frozen=True, slots=True)
class Revocations:
    token_hashes: frozenset[str] = frozenset()
    user_ids: frozenset[int] = frozenset()


class RuleSource(Protocol):
    def refresh(self) -> None:
        """Reload the access rules if they changed elsewhere (never raises)."""
        ...


class RevocationFeed(Protocol):
    def revoked_since(self, since: datetime) -> Revocations:
        """Sessions (and users whose every session) ended at or after ``since``."""
        ...


@dataclass(frozen=True, slots=True)
class _Entry:
    identity: Identity
    user_id: int
    loaded_at: float  # monotonic
    expires_at: datetime
    idle_deadline: datetime


class GateService:
    def __init__(
        self,
        sessions: SessionService,
        mfa: MfaService,
        feed: RevocationFeed,
        clock: Clock,
        *,
        ttl_s: float = CACHE_TTL_S,
        poll_interval_s: float = POLL_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
        rules: RuleSource | None = None,
    ) -> None:
        self._sessions = sessions
        self._rules = rules
        self._mfa = mfa
        self._feed = feed
        self._clock = clock
        self._ttl = ttl_s
        self._poll_interval = poll_interval_s
        self._monotonic = monotonic
        self._cache: dict[str, _Entry] = {}
        self._last_poll = monotonic()
        self._polled_to = clock.now()
        self._poll_lock = threading.Lock()
        self._polling = False

    # --- the hot path (no I/O) ---------------------------------------------------------------

    def cached(self, token: str) -> Identity | None:
        """The cached identity for ``token`` if still fresh and valid, else None (load it)."""
        entry = self._cache.get(hash_token(token))
        if entry is None or self._monotonic() - entry.loaded_at >= self._ttl:
            return None
        now = self._clock.now()
        if now >= entry.expires_at or now >= entry.idle_deadline:
            return None
        return entry.identity

    def claim_poll(self) -> bool:
        """True for exactly one caller when a poll is due: that caller must run ``poll``.

        Meanwhile the others go on answering from the cache, stale by at most one poll.
        """
        if self._polling or self._monotonic() - self._last_poll < self._poll_interval:
            return False
        with self._poll_lock:
            if self._polling:
                return False
            self._polling = True
            return True

    # --- off the hot path (storage calls: run in a thread) ------------------------------------

    def load(self, token: str) -> Identity | None:
        """Resolve ``token`` from storage (refreshing its idle timer) and cache the result."""
        active = self._sessions.resolve(token)
        if active is None:
            return None
        session, user = active.session, active.user
        complete = self._mfa.standing(user, session).step is Step.PROCEED
        identity = Identity(
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            roles=user.roles,
            aal=session.aal,
            complete=complete,
            emergency=session.emergency,
        )
        if len(self._cache) >= MAX_CACHED_SESSIONS:
            self._cache.pop(next(iter(self._cache)))
        self._cache[session.token_hash] = _Entry(
            identity,
            user.id,
            self._monotonic(),
            session.expires_at,
            max(session.last_seen_at, self._clock.now()) + session.idle_timeout,
        )
        return identity

    def poll(self) -> None:
        """Drop entries revoked elsewhere since the last poll (one feed query).

        Called by the one caller ``claim_poll`` chose; a failed poll is retried on the next call.
        """
        try:
            started = self._clock.now()
            revoked = self._feed.revoked_since(self._polled_to - POLL_OVERLAP)
            self._drop(revoked)
            if self._rules is not None:  # rule changes made on other nodes ride the same poll
                self._rules.refresh()
            self._polled_to = started
            self._last_poll = self._monotonic()
        finally:
            self._polling = False

    def _drop(self, revoked: Revocations) -> None:
        for token_hash in revoked.token_hashes:
            self._cache.pop(token_hash, None)
        if revoked.user_ids:
            for key, entry in list(self._cache.items()):
                if entry.user_id in revoked.user_ids:
                    self._cache.pop(key, None)

    # --- SessionEndListener: revocations on this node take effect at once --------------------

    def session_ended(self, token_hash: str, user_id: int) -> None:
        self._drop(Revocations(token_hashes=frozenset({token_hash})))

    def user_sessions_ended(self, user_id: int) -> None:
        self._drop(Revocations(user_ids=frozenset({user_id})))

    def forget(self, token: str) -> None:
        self._cache.pop(hash_token(token), None)
