"""The authorization endpoint's decisions: sign in, step up, consent, then a code for the client.

The web edge asks ``AuthorizationService.decide`` what to do with a request and the browser's
session, and gets one of the outcomes below; it never decides protocol questions itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from quivive.clock import Clock
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.clients import Client, GrantType
from quivive.domain.grants import (
    CODE_LIFETIME,
    Grant,
    new_grant_id,
    new_secret_token,
    session_sid,
)
from quivive.domain.sessions import AssuranceLevel, hash_token
from quivive.protocols.oidc import authorization
from quivive.protocols.oidc.acr import accepts_emergency, acr_for, required_level
from quivive.protocols.oidc.authorization import OFFLINE_ACCESS, AuthorizationRequest
from quivive.protocols.oidc.errors import (
    AccessDenied,
    ConsentRequired,
    LoginRequired,
    OAuthError,
    RequestNotTrusted,
)
from quivive.services.oidc_clients import ClientRegistry
from quivive.services.sessions import ActiveSession
from quivive.storage.oidc_grants import GrantRepository


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    issuer: str
    access_token_lifetime: timedelta
    id_token_lifetime: timedelta
    refresh_token_lifetime: timedelta
    finess: str | None

    @property
    def longest_signed_lifetime(self) -> timedelta:
        # Logout tokens live two minutes; access and ID tokens are configurable.
        return max(self.access_token_lifetime, self.id_token_lifetime, timedelta(minutes=2))


@dataclass(frozen=True, slots=True)
class ToClient:
    """Redirect the browser to the client: a code, or an error it can act on."""

    url: str


@dataclass(frozen=True, slots=True)
class ShowError:
    """The request cannot go back to the client (unknown client or redirect URI)."""

    description: str


@dataclass(frozen=True, slots=True)
class NeedLogin:
    login_hint: str | None


@dataclass(frozen=True, slots=True)
class NeedStepUp:
    level: AssuranceLevel


@dataclass(frozen=True, slots=True)
class NeedConsent:
    client: Client
    request: AuthorizationRequest


Decision = ToClient | ShowError | NeedLogin | NeedStepUp | NeedConsent


class AuthorizationService:
    def __init__(
        self,
        config: ProviderConfig,
        clients: ClientRegistry,
        grants: GrantRepository,
        audit: AuditSink,
        clock: Clock,
    ) -> None:
        self._config = config
        self._clients = clients
        self._grants = grants
        self._audit = audit
        self._clock = clock

    def decide(
        self, params: Mapping[str, str], active: ActiveSession | None, *, stepped_up: bool = False
    ) -> Decision:
        """What to do with an authorization request; ``stepped_up`` once a step-up was tried."""
        try:
            client, redirect_uri = authorization.trusted_target(params, self._clients.find)
        except RequestNotTrusted as exc:
            return ShowError(exc.description)
        try:
            request = authorization.validate(params, client, redirect_uri)
            return self._decide(client, request, active, stepped_up)
        except OAuthError as exc:
            return self._error(redirect_uri, exc, params.get("state"))

    def approve(
        self, params: Mapping[str, str], active: ActiveSession, *, allowed: bool
    ) -> Decision:
        """The user answered the consent page (which carried the original request)."""
        try:
            client, redirect_uri = authorization.trusted_target(params, self._clients.find)
        except RequestNotTrusted as exc:
            return ShowError(exc.description)
        try:
            request = authorization.validate(params, client, redirect_uri)
            if not allowed:
                raise AccessDenied("the user refused")
        except OAuthError as exc:
            return self._error(redirect_uri, exc, params.get("state"))
        self._grants.save_consent(active.user.id, client.client_id, request.scope, self._now())
        return self._issue_code(client, request, active)

    def _decide(
        self,
        client: Client,
        request: AuthorizationRequest,
        active: ActiveSession | None,
        stepped_up: bool,
    ) -> Decision:
        if active is None or self._needs_login(request, active):
            # OIDC Core §3.1.2.1, prompt=none: "The Authorization Server MUST NOT display any
            # authentication or consent user interface pages. An error is returned if an
            # End-User is not already authenticated"
            if "none" in request.prompt:
                raise LoginRequired("the user is not signed in")
            return NeedLogin(request.login_hint)
        level = required_level(request.acr_values)
        if active.session.emergency:
            self._check_emergency(request)
        elif level is not None and active.session.aal < level and not stepped_up:
            if "none" in request.prompt:
                raise LoginRequired(f"acr {acr_for(level)} needs a new authentication")
            return NeedStepUp(level)
        if self._needs_consent(client, request, active):
            if "none" in request.prompt:
                raise ConsentRequired("the user has not consented to this client")
            return NeedConsent(client, request)
        return self._issue_code(client, request, active)

    def _check_emergency(self, request: AuthorizationRequest) -> None:
        """An emergency session never passes for AAL2/AAL3, and cannot step up (issue 8).

        With acr_values, the relying party said what it accepts: unless the emergency acr is
        listed, the answer is access_denied, so the application can say why. Without acr_values
        the code is issued and the ID token's acr says "emergency"; the application decides.
        """
        if request.acr_values and not accepts_emergency(request.acr_values):
            raise AccessDenied("an emergency access session does not meet the requested acr")

    def _needs_login(self, request: AuthorizationRequest, active: ActiveSession) -> bool:
        if "login" in request.prompt:
            return True
        # OIDC Core §3.1.2.1 max_age: "If the elapsed time is greater than this value, the OP
        # MUST attempt to actively re-authenticate the End-User."
        age = self._now() - active.session.auth_time
        return request.max_age is not None and age > timedelta(seconds=request.max_age)

    def _needs_consent(
        self, client: Client, request: AuthorizationRequest, active: ActiveSession
    ) -> bool:
        if client.first_party and "consent" not in request.prompt:
            return False
        if "consent" in request.prompt:
            return True
        granted = self._grants.consented_scope(active.user.id, client.client_id)
        return not set(request.scope) <= set(granted)

    def _issue_code(
        self, client: Client, request: AuthorizationRequest, active: ActiveSession
    ) -> ToClient:
        code, now = new_secret_token(), self._now()
        # OIDC Core §11: offline_access is honoured only for clients allowed refresh tokens;
        # third-party clients reach this point only after the user consented to it.
        offline = OFFLINE_ACCESS in request.scope and GrantType.REFRESH_TOKEN in client.grant_types
        # An emergency session lasts two hours at most: no refresh token may outlive it.
        offline = offline and not active.session.emergency
        self._grants.add(
            Grant(
                grant_id=new_grant_id(),
                code_hash=hash_token(code),
                client_id=client.client_id,
                user_id=active.user.id,
                session_hash=active.session.token_hash,
                sid=session_sid(active.session.token_hash),
                redirect_uri=request.redirect_uri,
                scope=request.scope if offline else _without_offline(request.scope),
                nonce=request.nonce,
                code_challenge=request.code_challenge,
                auth_time=active.session.auth_time,
                acr=acr_for(active.session.aal, emergency=active.session.emergency),
                amr=active.session.amr,
                created_at=now,
                code_expires_at=now + CODE_LIFETIME,
                code_used_at=None,
                offline=offline,
                revoked_at=None,
            )
        )
        self._audit.record(
            AuditEvent(
                action="oidc.authorize",
                outcome=Outcome.SUCCESS,
                at=now,
                actor=active.user.username,
                subject=client.client_id,
                details={"scope": " ".join(request.scope)},
            )
        )
        return ToClient(authorization.success_redirect(request, code, self._config.issuer))

    def _error(self, redirect_uri: str, error: OAuthError, state: str | None) -> ToClient:
        return ToClient(
            authorization.error_redirect(redirect_uri, error, state, self._config.issuer)
        )

    def _now(self) -> datetime:
        return self._clock.now()


def _without_offline(scope: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(value for value in scope if value != OFFLINE_ACCESS)
