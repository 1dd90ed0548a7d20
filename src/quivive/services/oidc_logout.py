"""Logout across relying parties: RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

When a session ends (sign-out, RP-initiated logout) its non-offline grants are revoked; when all
of a user's sessions end (account disabled, password changed) every grant is. Each client with a
``backchannel_logout_uri`` that held one of those grants gets a logout token, POSTed through the
outbound delivery queue (``services.deliveries``), which retries on a bounded schedule. Pending
deliveries wait in the database: a restart loses none, and one node of several sends each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
from quivive.services.deliveries import DeliveryService
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


BACKCHANNEL_KIND = "oidc.backchannel_logout"


@dataclass(frozen=True, slots=True)
class Delivery:
    client_id: str
    uri: str
    subject: str | None
    sid: str | None

    def payload(self) -> dict[str, str | None]:
        # No token here: it is signed at each attempt, so nothing usable waits in the database.
        return {"client_id": self.client_id, "uri": self.uri, "sub": self.subject, "sid": self.sid}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Delivery:
        return cls(payload["client_id"], payload["uri"], payload.get("sub"), payload.get("sid"))


Poster = Callable[[str, Mapping[str, str]], int]


def http_post(uri: str, form: Mapping[str, str]) -> int:
    # Back-Channel Logout §2.5: the OP POSTs application/x-www-form-urlencoded; redirects are not
    # followed, a 200 (or 204) is success.
    with httpx.Client(timeout=REQUEST_TIMEOUT_S, follow_redirects=False) as client:
        return client.post(uri, data=dict(form)).status_code


class BackchannelSender:
    """The ``DeliveryHandler`` of queued logout tokens: one POST per attempt, per ``schedule``."""

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
        self.schedule = tuple(schedule)
        self._post = post

    def deliver(self, payload: Mapping[str, Any], attempt: int) -> str | None:
        delivery = Delivery.from_payload(payload)
        try:
            status = self._post(delivery.uri, {"logout_token": self._sign(delivery)})
        except (httpx.HTTPError, OSError) as exc:
            log.info("back-channel logout to %s failed: %s", delivery.uri, type(exc).__name__)
            return type(exc).__name__
        if status not in (200, 204):
            return f"http_status_{status}"
        self._audit.record(
            AuditEvent(
                action="oidc.backchannel_logout",
                outcome=Outcome.SUCCESS,
                at=self._clock.now(),
                actor="system",
                subject=delivery.client_id,
                details={"attempts": str(attempt)},
            )
        )
        return None

    def describe(self, payload: Mapping[str, Any]) -> str:
        return str(payload["client_id"])


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
        deliveries: DeliveryService,
    ) -> None:
        self._config = config
        self._clients = clients
        self._grants = grants
        self._users = users
        self._keys = keys
        self._clock = clock
        self._deliveries = deliveries
        # Registered with ``deliveries`` by the composition root.
        self.sender = BackchannelSender(self._logout_token, audit, clock)

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

    def sweep_ended_sessions(self, *, batch: int = SWEEP_BATCH) -> int:
        """Sessions that ended without a sign-out (idle or absolute timeout) are logged out of
        their relying parties too, ``batch`` at most per run; returns how many. Run it every few
        minutes (``quivive client purge`` does, before purging)."""
        ended = self._grants.ended_sessions_of_live_grants(self._clock.now(), batch)
        for session in ended:
            self.session_ended(session.session_hash, session.user_id)
        return len(ended)

    def _notify(self, targets: set[tuple[str, str | None]], user_id: int) -> None:
        if not targets:
            return
        subject = self._users.get(user_id).subject
        for client_id, sid in sorted(targets, key=lambda target: (target[0], target[1] or "")):
            client = self._clients.find(client_id)
            if client is not None and client.backchannel_logout_uri:
                delivery = Delivery(client.client_id, client.backchannel_logout_uri, subject, sid)
                self._deliveries.enqueue(BACKCHANNEL_KIND, delivery.payload())

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
