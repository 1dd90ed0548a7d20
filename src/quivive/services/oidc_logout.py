"""Logout across relying parties: RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

When a session ends (sign-out, RP-initiated logout) its non-offline grants are revoked; when all
of a user's sessions end (account disabled, password changed) every grant is. Each client with a
``backchannel_logout_uri`` that held one of those grants gets a logout token, POSTed by a small
background sender that retries on a bounded schedule. Deliveries wait in memory: a restart drops
the pending ones (the grants are revoked all the same, so tokens stop working at once).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from quivive.clock import Clock
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.clients import Client
from quivive.protocols.oidc.errors import OAuthError
from quivive.protocols.oidc.logout import (
    LOGOUT_TOKEN_TYP,
    logout_token_claims,
    post_logout_target,
)
from quivive.protocols.oidc.tokens import ID_TOKEN_TYP
from quivive.services.oidc import ProviderConfig
from quivive.services.oidc_clients import ClientRegistry
from quivive.services.oidc_keys import KeyService
from quivive.storage.oidc_grants import GrantRepository
from quivive.storage.users import UserRepository

log = logging.getLogger(__name__)

# Delays before each attempt: at once, then after 5 s, 30 s, 2 min and 10 min. Bounded, so a
# relying party that is gone for good costs five requests, and a logout token (valid 2 min) is
# re-signed for every attempt.
RETRY_SCHEDULE_S = (0.0, 5.0, 30.0, 120.0, 600.0)
REQUEST_TIMEOUT_S = 5.0
# Sessions looked at per sweep: bounded work per run; the next run takes the rest.
SWEEP_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Delivery:
    client_id: str
    uri: str
    subject: str | None
    sid: str | None
    attempt: int = 0


Poster = Callable[[str, Mapping[str, str]], int]


def http_post(uri: str, form: Mapping[str, str]) -> int:
    # Back-Channel Logout §2.5: the OP POSTs application/x-www-form-urlencoded; redirects are not
    # followed, a 200 (or 204) is success.
    with httpx.Client(timeout=REQUEST_TIMEOUT_S, follow_redirects=False) as client:
        return client.post(uri, data=dict(form)).status_code


@dataclass(order=True)
class _Queued:
    due: float
    seq: int
    delivery: Delivery = field(compare=False)


class BackchannelSender:
    """Sends logout tokens from one daemon thread, retrying per ``schedule``."""

    def __init__(
        self,
        sign: Callable[[Delivery], str],
        audit: AuditSink,
        clock: Clock,
        *,
        schedule: Sequence[float] = RETRY_SCHEDULE_S,
        post: Poster = http_post,
    ) -> None:
        self._sign = sign
        self._audit = audit
        self._clock = clock
        self._schedule = tuple(schedule)
        self._post = post
        self._queue: list[_Queued] = []
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._in_flight = 0

    def send(self, delivery: Delivery) -> None:
        self._push(delivery, self._schedule[0])

    def _push(self, delivery: Delivery, delay: float) -> None:
        with self._wake:
            heapq.heappush(
                self._queue, _Queued(time.monotonic() + delay, next(self._counter), delivery)
            )
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(
                    target=self._run, name="quivive-backchannel", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or in flight (tests); True if that happened in time."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.wait(min(remaining, 0.05))
        return True

    def close(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(REQUEST_TIMEOUT_S + 1)

    def _run(self) -> None:
        while True:
            delivery = self._next()
            if delivery is None:
                return
            try:
                self._attempt(delivery)
            finally:
                with self._wake:
                    self._in_flight -= 1
                    self._wake.notify_all()

    def _next(self) -> Delivery | None:
        with self._wake:
            while not self._stopping:
                if self._queue and self._queue[0].due <= time.monotonic():
                    self._in_flight += 1
                    return heapq.heappop(self._queue).delivery
                timeout = self._queue[0].due - time.monotonic() if self._queue else None
                self._wake.wait(timeout)
        return None

    def _attempt(self, delivery: Delivery) -> None:
        try:
            status = self._post(delivery.uri, {"logout_token": self._sign(delivery)})
        except (httpx.HTTPError, OSError) as exc:
            log.info("back-channel logout to %s failed: %s", delivery.uri, type(exc).__name__)
            status = 0
        if status in (200, 204):
            self._record(delivery, Outcome.SUCCESS, None)
            return
        attempt = delivery.attempt + 1
        if attempt >= len(self._schedule):
            self._record(delivery, Outcome.FAILURE, f"gave_up_after_{attempt}_attempts")
            return
        retry = Delivery(delivery.client_id, delivery.uri, delivery.subject, delivery.sid, attempt)
        self._push(retry, self._schedule[attempt])

    def _record(self, delivery: Delivery, outcome: Outcome, reason: str | None) -> None:
        self._audit.record(
            AuditEvent(
                action="oidc.backchannel_logout",
                outcome=outcome,
                at=self._clock.now(),
                actor="system",
                subject=delivery.client_id,
                reason=reason,
                details={"attempts": str(delivery.attempt + 1)},
            )
        )


@dataclass(frozen=True, slots=True)
class EndSessionRequest:
    """A validated RP-initiated logout request."""

    client: Client | None
    hinted_subject: str | None  # sub of a valid id_token_hint
    redirect: str | None  # post_logout_redirect_uri with state, when registered


class LogoutService:
    """Listens for ended sessions (``SessionService.subscribe``) and tells relying parties."""

    def __init__(
        self,
        config: ProviderConfig,
        clients: ClientRegistry,
        grants: GrantRepository,
        users: UserRepository,
        keys: KeyService,
        audit: AuditSink,
        clock: Clock,
        *,
        schedule: Sequence[float] = RETRY_SCHEDULE_S,
        post: Poster = http_post,
    ) -> None:
        self._config = config
        self._clients = clients
        self._grants = grants
        self._users = users
        self._keys = keys
        self._clock = clock
        self.sender = BackchannelSender(
            self._logout_token, audit, clock, schedule=schedule, post=post
        )

    # --- SessionService listener ---------------------------------------------------------------

    def session_ended(self, token_hash: str, user_id: int) -> None:
        grants = self._grants.end_session(token_hash, self._clock.now())
        self._notify({(grant.client_id, grant.sid) for grant in grants}, user_id)

    def session_rotated(self, old_hash: str, new_hash: str) -> None:
        # A step-up gives the session a new identifier: its grants follow it (each keeps the sid
        # its relying party was told), so that signing out later still reaches them.
        self._grants.move_session(old_hash, new_hash)

    def user_sessions_ended(self, user_id: int) -> None:
        grants = self._grants.revoke_for_user(user_id, self._clock.now())
        # Every session of the user ends: the logout token names the user (sub) only.
        self._notify({(grant.client_id, None) for grant in grants}, user_id)

    def sweep_ended_sessions(self) -> int:
        """Sessions that ended without a sign-out (idle or absolute timeout) are logged out of
        their relying parties too; returns how many. Run it every few minutes (``quivive client
        purge`` does, before purging)."""
        now = self._clock.now()
        ended = [
            state
            for state in self._grants.sessions_of_live_grants(SWEEP_BATCH)
            if state.ended_at(now)
        ]
        for state in ended:
            self.session_ended(state.session_hash, state.user_id)
        return len(ended)

    def _notify(self, targets: set[tuple[str, str | None]], user_id: int) -> None:
        if not targets:
            return
        subject = self._users.get(user_id).subject
        for client_id, sid in sorted(targets, key=lambda target: (target[0], target[1] or "")):
            client = self._clients.find(client_id)
            if client is not None and client.backchannel_logout_uri:
                self.sender.send(
                    Delivery(client.client_id, client.backchannel_logout_uri, subject, sid)
                )

    def _logout_token(self, delivery: Delivery) -> str:
        client = self._clients.find(delivery.client_id)
        alg = client.signing_alg if client is not None else "RS256"
        claims = logout_token_claims(
            issuer=self._config.issuer,
            client_id=delivery.client_id,
            subject=delivery.subject,
            sid=delivery.sid,
            now=self._clock.now(),
        )
        return self._keys.sign(claims, alg=alg, typ=LOGOUT_TOKEN_TYP)

    # --- RP-initiated logout -------------------------------------------------------------------

    def end_session_request(self, params: Mapping[str, str]) -> EndSessionRequest:
        """RP-Initiated Logout §2: id_token_hint (RECOMMENDED), client_id,
        post_logout_redirect_uri (registered), state."""
        hinted = self._hint(params.get("id_token_hint"))
        client_id = params.get("client_id") or (hinted or {}).get("aud")
        if hinted is not None and params.get("client_id", client_id) != hinted.get("aud"):
            # §2: "If both client_id and id_token_hint are present, the OP MUST verify that the
            # Client Identifier matches the one used when issuing the ID Token."
            hinted, client_id = None, None
        client = self._clients.find(client_id) if isinstance(client_id, str) else None
        redirect = None
        if client is not None:
            redirect = post_logout_target(
                client.post_logout_redirect_uris,
                params.get("post_logout_redirect_uri"),
                params.get("state"),
            )
        subject = hinted.get("sub") if hinted else None
        return EndSessionRequest(client, subject if isinstance(subject, str) else None, redirect)

    def _hint(self, token: str | None) -> dict[str, Any] | None:
        if not token:
            return None
        try:
            claims = self._keys.verify(token, typs=(ID_TOKEN_TYP,))
        except OAuthError:
            return None
        # The hint may have expired: RP-Initiated Logout §2 lets the OP accept it anyway.
        return claims if claims.get("iss") == self._config.issuer else None

    def close(self) -> None:
        self.sender.close()
