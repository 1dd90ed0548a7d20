"""The token, userinfo, introspection and revocation endpoints' work (RFC 6749 §4.1.3, §4.4, §6;
OIDC Core §3.1.3, §5.3, §12; RFC 7662; RFC 7009).

Each public method takes the parsed form (and the Authorization header) and returns the JSON
body, or raises an ``OAuthError`` that the edge turns into an error response. All of it is
synchronous database and signing work: the edge runs it in the thread pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from quivive.clock import Clock
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.clients import AuthMethod, Client, GrantType
from quivive.domain.grants import Grant, new_secret_token
from quivive.domain.sessions import hash_token
from quivive.domain.users import User
from quivive.errors import NotFoundError
from quivive.protocols.oidc import client_auth, pkce
from quivive.protocols.oidc.authorization import OFFLINE_ACCESS, OPENID
from quivive.protocols.oidc.claims import user_claims
from quivive.protocols.oidc.discovery import INTROSPECT_PATH, REVOKE_PATH, TOKEN_PATH
from quivive.protocols.oidc.errors import (
    InsufficientScope,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from quivive.protocols.oidc.jose_keys import KeyRing
from quivive.protocols.oidc.params import space_list
from quivive.protocols.oidc.tokens import (
    ACCESS_TOKEN_TYP,
    ACCESS_TOKEN_TYPS,
    ID_TOKEN_TYP,
    Authentication,
    access_token_claims,
    check_claims,
    id_token_claims,
    new_jti,
)
from quivive.services.oidc import ProviderConfig
from quivive.services.oidc_clients import ClientRegistry
from quivive.services.oidc_keys import KeyService
from quivive.storage.oidc_grants import GrantRepository, RefreshOutcome
from quivive.storage.users import UserRepository

# Scopes that describe a user: meaningless for the client credentials grant.
USER_SCOPES = frozenset({"openid", "profile", "email", "offline_access", "healthcare"})
# A grant without refresh tokens is kept this long after it was created: far beyond the longest
# access token issued from it (an hour), so purging never cuts a token short in practice.
GRANT_RETENTION = timedelta(days=1)
# jti = "<grant id>.<random>" for tokens issued from a grant, so revoking the grant revokes them.
GRANT_SEPARATOR = "."
# The audit detail of a client credentials token, which the metrics count apart (services.metrics).
CLIENT_CREDENTIALS = GrantType.CLIENT_CREDENTIALS.value


@dataclass(frozen=True, slots=True)
class Issued:
    """A token response's body, and the audit event to record before it is sent."""

    body: dict[str, Any]
    event: AuditEvent


@dataclass(frozen=True, slots=True)
class AccessToken:
    claims: dict[str, Any]
    grant: Grant | None


class TokenService:
    def __init__(
        self,
        config: ProviderConfig,
        clients: ClientRegistry,
        grants: GrantRepository,
        users: UserRepository,
        keys: KeyService,
        audit: AuditSink,
        clock: Clock,
    ) -> None:
        self._config = config
        self._clients = clients
        self._grants = grants
        self._users = users
        self._keys = keys
        self._audit = audit
        self._clock = clock

    # --- client authentication -----------------------------------------------------------------

    def authenticate_client(
        self, form: Mapping[str, str], authorization: str | None, endpoint: str
    ) -> Client:
        presented = client_auth.extract(authorization, form)
        audiences = {self._config.issuer, self._config.issuer + endpoint}
        try:
            return client_auth.authenticate(
                presented,
                self._clients.find(presented.client_id),
                audiences=audiences,
                now=self._clock.now(),
            )
        except OAuthError:
            self._record("oidc.client_auth", Outcome.FAILURE, presented.client_id[:64], "bad")
            raise

    # --- token endpoint ------------------------------------------------------------------------

    def token(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        client = self.authenticate_client(form, authorization, TOKEN_PATH)
        grant_type = form.get("grant_type", "")
        handlers = {
            GrantType.AUTHORIZATION_CODE.value: self._authorization_code,
            GrantType.REFRESH_TOKEN.value: self._refresh_token,
            GrantType.CLIENT_CREDENTIALS.value: self._client_credentials,
        }
        handler = handlers.get(grant_type)
        if handler is None:
            raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported")
        _may_use(client, GrantType(grant_type))
        return handler(client, form)

    def quick_client_credentials(
        self, form: Mapping[str, str], authorization: str | None
    ) -> Issued | None:
        """The client credentials grant from memory only: no database, no thread.

        Only the ordinary case is answered: a client this node has cached (``ClientRegistry``),
        authenticated, allowed the grant and the scope, and signing keys that need no reload.
        Anything else is None, and ``token`` then answers with its exact error and its audit of
        the failure. The caller must record ``Issued.event`` before it sends ``Issued.body``.
        """
        if form.get("grant_type") != CLIENT_CREDENTIALS:
            return None
        ring = self._keys.fresh_ring()
        try:
            presented = client_auth.extract(authorization, form)
            client = self._clients.cached(presented.client_id)
            if client is None or ring is None or not ring.can_sign(client.signing_alg):
                return None
            audiences = {self._config.issuer, self._config.issuer + TOKEN_PATH}
            now = self._clock.now()
            client_auth.authenticate(presented, client, audiences=audiences, now=now)
            _may_use(client, GrantType.CLIENT_CREDENTIALS)
            return self._client_credentials_token(client, form, ring)
        except OAuthError:
            return None

    def _authorization_code(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        code = form.get("code")
        if not code:
            raise InvalidRequest("code required")
        now = self._clock.now()
        grant = self._grants.consume_code(hash_token(code), now)
        if grant is None:
            self._code_not_usable(hash_token(code), client)
        # RFC 6749 §4.1.3: "ensure that the authorization code was issued to the authenticated
        # confidential client, or if the client is public, ensure that the code was issued to
        # "client_id" in the request"
        if grant.client_id != client.client_id:
            raise InvalidGrant("code was issued to another client")
        # RFC 6749 §4.1.3: redirect_uri "REQUIRED, if the "redirect_uri" parameter was included
        # in the authorization request ..., and their values MUST be identical."
        if form.get("redirect_uri") != grant.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        pkce.verify(grant.code_challenge, form.get("code_verifier"))
        user = self._active_user(grant.user_id)
        return self._issue(client, grant, user, nonce=grant.nonce, scope=grant.scope, now=now)

    def _code_not_usable(self, code_hash: str, client: Client) -> NoReturn:
        existing = self._grants.find_by_code(code_hash)
        if existing is not None and existing.code_used_at is not None:
            # RFC 6749 §4.1.2: "If an authorization code is used more than once, the
            # authorization server MUST deny the request and SHOULD revoke (when possible) all
            # tokens previously issued based on that authorization code."
            self._grants.revoke(existing.grant_id, self._clock.now())
            self._record("oidc.code_reuse", Outcome.FAILURE, client.client_id, "code_reused")
        raise InvalidGrant("code invalid, expired or already used")

    def _refresh_token(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        token = form.get("refresh_token")
        if not token:
            raise InvalidRequest("refresh_token required")
        now = self._clock.now()
        outcome, grant_id = self._grants.use_refresh(hash_token(token), now)
        if outcome is RefreshOutcome.REUSED and grant_id is not None:
            # RFC 9700 §4.14.2: on reuse of a rotated refresh token, "the authorization server
            # ... will revoke the active refresh token" — the whole family, since it cannot
            # tell the legitimate client from the attacker.
            self._grants.revoke(grant_id, now)
            self._record("oidc.refresh_reuse", Outcome.FAILURE, client.client_id, "reused")
        rotated = outcome is RefreshOutcome.ROTATED and grant_id is not None
        grant = self._grants.find(grant_id) if rotated and grant_id else None
        if grant is None or grant.revoked_at is not None:
            raise InvalidGrant("refresh token invalid, expired, revoked or already used")
        if grant.client_id != client.client_id:
            raise InvalidGrant("refresh token was issued to another client")
        scope = space_list(form, "scope") or grant.scope
        # RFC 6749 §6: the requested scope "MUST NOT include any scope not originally granted"
        if not set(scope) <= set(grant.scope):
            raise InvalidScope("scope exceeds the original grant")
        user = self._active_user(grant.user_id)
        return self._issue(client, grant, user, nonce=None, scope=scope, now=now)

    def _client_credentials(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        issued = self._client_credentials_token(client, form, self._keys.ring())
        self._audit.record(issued.event)
        return issued.body

    def _client_credentials_token(
        self, client: Client, form: Mapping[str, str], ring: KeyRing
    ) -> Issued:
        # RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential
        # clients."
        if client.auth_method is AuthMethod.NONE:
            raise UnauthorizedClient("public clients cannot use client credentials")
        scope = space_list(form, "scope")
        allowed = set(client.scopes) - USER_SCOPES
        if not set(scope) <= allowed:
            raise InvalidScope("scope not allowed for the client credentials grant")
        now = self._clock.now()
        claims = access_token_claims(
            issuer=self._config.issuer,
            client_id=client.client_id,
            subject=client.client_id,
            scope=scope,
            jti=new_jti(),
            now=now,
            lifetime=self._config.access_token_lifetime,
        )
        token = ring.sign(claims, alg=client.signing_alg, typ=ACCESS_TOKEN_TYP)
        event = self._event(
            "oidc.token", Outcome.SUCCESS, client.client_id, None, CLIENT_CREDENTIALS
        )
        return Issued(self._body(token, scope), event)

    def _issue(
        self,
        client: Client,
        grant: Grant,
        user: User,
        *,
        nonce: str | None,
        scope: tuple[str, ...],
        now: datetime,
    ) -> dict[str, Any]:
        auth = Authentication(
            subject=user.subject,
            auth_time=grant.auth_time,
            acr=grant.acr,
            amr=grant.amr,
            sid=grant.sid,
        )
        claims = access_token_claims(
            issuer=self._config.issuer,
            client_id=client.client_id,
            subject=user.subject,
            scope=scope,
            jti=new_jti(grant.grant_id + GRANT_SEPARATOR),
            now=now,
            lifetime=self._config.access_token_lifetime,
            auth=auth,
        )
        body = self._body(
            self._keys.sign(claims, alg=client.signing_alg, typ=ACCESS_TOKEN_TYP), scope
        )
        if OPENID in scope:
            body["id_token"] = self._id_token(client, auth, nonce, now)
        if self._refresh_allowed(client, grant):
            refresh = new_secret_token()
            expires = now + self._config.refresh_token_lifetime
            self._grants.add_refresh(hash_token(refresh), grant.grant_id, now, expires)
            body["refresh_token"] = refresh
        self._record("oidc.token", Outcome.SUCCESS, client.client_id, None, user.username)
        return body

    def _id_token(
        self, client: Client, auth: Authentication, nonce: str | None, now: datetime
    ) -> str:
        claims = id_token_claims(
            issuer=self._config.issuer,
            client_id=client.client_id,
            auth=auth,
            nonce=nonce,
            now=now,
            lifetime=self._config.id_token_lifetime,
        )
        return self._keys.sign(claims, alg=client.signing_alg, typ=ID_TOKEN_TYP)

    def _refresh_allowed(self, client: Client, grant: Grant) -> bool:
        # Refresh tokens only with offline_access or the client's own setting (OIDC Core §11).
        if GrantType.REFRESH_TOKEN not in client.grant_types:
            return False
        return (
            grant.offline or OFFLINE_ACCESS in grant.scope or client.refresh_without_offline_access
        )

    def _body(self, access_token: str, scope: tuple[str, ...]) -> dict[str, Any]:
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": int(self._config.access_token_lifetime.total_seconds()),
            "scope": " ".join(scope),
        }

    def _active_user(self, user_id: int) -> User:
        try:
            user = self._users.get(user_id)
        except NotFoundError:
            raise InvalidGrant("the user no longer exists") from None
        if not user.is_active:
            raise InvalidGrant("the user is disabled")
        return user

    # --- access tokens as resource: userinfo, introspection ------------------------------------

    def verify_access_token(self, token: str) -> AccessToken:
        claims = self._keys.verify(token, typs=ACCESS_TOKEN_TYPS)
        check_claims(claims, issuer=self._config.issuer, now=self._clock.now())
        jti = claims.get("jti")
        if not isinstance(jti, str) or self._grants.is_access_token_revoked(jti):
            raise InvalidToken("token revoked")
        grant_id, separator, _ = jti.partition(GRANT_SEPARATOR)
        if not separator:
            return AccessToken(claims, None)
        grant = self._grants.find(grant_id)
        if grant is None or grant.revoked_at is not None:
            raise InvalidToken("token revoked")
        return AccessToken(claims, grant)

    def userinfo(self, token: str) -> dict[str, Any]:
        verified = self.verify_access_token(token)
        if verified.grant is None:
            raise InvalidToken("not a token for a user")
        scope = str(verified.claims.get("scope", "")).split()
        # OIDC Core §5.3: the UserInfo endpoint is for tokens obtained with the openid scope.
        if OPENID not in scope:
            raise InsufficientScope("the token was not issued with the openid scope")
        try:
            user = self._users.get(verified.grant.user_id)
        except NotFoundError:
            raise InvalidToken("the user no longer exists") from None
        if not user.is_active:
            raise InvalidToken("the user is disabled")
        return user_claims(user, scope, finess=self._config.finess)

    def introspect(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        """RFC 7662 §2.2; a client may only introspect tokens issued to itself."""
        client = self.authenticate_client(form, authorization, INTROSPECT_PATH)
        token = form.get("token")
        if not token:
            raise InvalidRequest("token required")
        if "." in token:
            return self._introspect_access(client, token)
        return self._introspect_refresh(client, token)

    def _introspect_access(self, client: Client, token: str) -> dict[str, Any]:
        try:
            verified = self.verify_access_token(token)
        except OAuthError:
            return {"active": False}
        claims = verified.claims
        if claims.get("client_id") != client.client_id:
            return {"active": False}
        names = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "acr", "amr")
        body = {name: claims[name] for name in names if name in claims}
        return {"active": True, "token_type": "Bearer", **body}

    def _introspect_refresh(self, client: Client, token: str) -> dict[str, Any]:
        info = self._grants.refresh_info(hash_token(token))
        if info is None or info.used_at is not None or info.expires_at <= self._clock.now():
            return {"active": False}
        grant = self._grants.find(info.grant_id)
        if grant is None or grant.revoked_at is not None or grant.client_id != client.client_id:
            return {"active": False}
        try:
            user = self._users.get(grant.user_id)
        except NotFoundError:
            return {"active": False}
        return {
            "active": user.is_active,
            "token_type": "refresh_token",
            "client_id": client.client_id,
            "scope": " ".join(grant.scope),
            "sub": user.subject,
            "exp": int(info.expires_at.timestamp()),
            "iss": self._config.issuer,
        }

    # --- housekeeping ----------------------------------------------------------------------------

    def purge(self) -> int:
        """Delete expired grants and tokens (``quivive client purge``, e.g. daily from cron)."""
        now = self._clock.now()
        return self._grants.purge(now, grants_before=now - GRANT_RETENTION)

    # --- revocation ----------------------------------------------------------------------------

    def revoke(self, form: Mapping[str, str], authorization: str | None) -> None:
        """RFC 7009 §2.2: "The authorization server responds with HTTP status code 200 if the
        token has been revoked successfully or if the client submitted an invalid token.\""""
        client = self.authenticate_client(form, authorization, REVOKE_PATH)
        token = form.get("token")
        if not token:
            raise InvalidRequest("token required")
        now = self._clock.now()
        grant_id = self._grants.refresh_grant(hash_token(token))
        if grant_id is not None:
            grant = self._grants.find(grant_id)
            if grant is not None and grant.client_id != client.client_id:
                raise UnauthorizedClient("the token was issued to another client")
            # RFC 7009 §2.1: revoking a refresh token "SHOULD also invalidate all access tokens
            # based on the same authorization grant".
            self._grants.revoke(grant_id, now)
            self._record("oidc.revoke", Outcome.SUCCESS, client.client_id, None, "refresh_token")
            return
        self._revoke_access_token(client, token)

    def _revoke_access_token(self, client: Client, token: str) -> None:
        try:
            claims = self._keys.verify(token, typs=ACCESS_TOKEN_TYPS)
            check_claims(claims, issuer=self._config.issuer, now=self._clock.now())
        except OAuthError:
            return  # unknown, expired or foreign: nothing to revoke
        if claims.get("client_id") != client.client_id:
            raise UnauthorizedClient("the token was issued to another client")
        expires = datetime.fromtimestamp(int(claims["exp"]), tz=self._clock.now().tzinfo)
        self._grants.revoke_access_token(str(claims["jti"]), expires)
        self._record("oidc.revoke", Outcome.SUCCESS, client.client_id, None, "access_token")

    def _record(
        self,
        action: str,
        outcome: Outcome,
        client_id: str,
        reason: str | None,
        detail: str | None = None,
    ) -> None:
        self._audit.record(self._event(action, outcome, client_id, reason, detail))

    def _event(
        self,
        action: str,
        outcome: Outcome,
        client_id: str,
        reason: str | None,
        detail: str | None = None,
    ) -> AuditEvent:
        details = {"detail": detail} if detail else {}
        return AuditEvent(
            action=action,
            outcome=outcome,
            at=self._clock.now(),
            subject=client_id,
            reason=reason,
            details=details,
        )


def _may_use(client: Client, grant_type: GrantType) -> None:
    # RFC 6749 §5.2 unauthorized_client: "The authenticated client is not authorized to use
    # this authorization grant type."
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"client may not use grant_type {grant_type}")
