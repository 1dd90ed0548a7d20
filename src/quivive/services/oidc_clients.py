"""Registering and looking up OAuth clients; secrets are shown once and stored hashed.

Lookups by the token endpoint go through a short per-node cache: a client removed or given a new
secret on one node is refused by the others within ``CACHE_TTL_S`` (on the node that made the
change, at once). A time-to-live rather than a version check per request: the check would be the
database round trip the cache is there to save, and the token endpoint's fast path answers from
memory, without a thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from quivive.clock import Clock
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.clients import (
    DEFAULT_GRANTS,
    DEFAULT_SCOPES,
    DEFAULT_SIGNING_ALG,
    SIGNING_ALGS,
    AuthMethod,
    Client,
    GrantType,
    new_client_id,
    new_client_secret,
)
from quivive.errors import ConflictError, NotFoundError, ValidationError
from quivive.protocols.oidc.claims import SERVICE_SCOPES, SUPPORTED_SCOPES
from quivive.services.mfa import Origin
from quivive.storage.oidc_clients import ClientRepository

# How long another node may still accept a removed client or a rotated secret.
CACHE_TTL_S = 5.0
MAX_NAME_LENGTH = 200
MAX_URI_LENGTH = 2048
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class NewClient:
    name: str
    redirect_uris: Sequence[str] = ()
    public: bool = False
    post_logout_redirect_uris: Sequence[str] = ()
    backchannel_logout_uri: str | None = None
    grant_types: Sequence[str] = ()
    scopes: Sequence[str] = ()
    first_party: bool = False
    auth_method: str | None = None  # default client_secret_basic (confidential) / none (public)
    signing_alg: str = DEFAULT_SIGNING_ALG
    refresh_without_offline_access: bool = False
    jwks: str | None = None


@dataclass(frozen=True, slots=True)
class ClientChanges:
    """An edit from the admin console or API: None leaves a field as it is. The authentication
    method (public, secret, private_key_jwt) is kept: changing it means a new client."""

    name: str | None = None
    redirect_uris: Sequence[str] | None = None
    post_logout_redirect_uris: Sequence[str] | None = None
    backchannel_logout_uri: str | None = None  # "" removes it
    grant_types: Sequence[str] | None = None
    scopes: Sequence[str] | None = None
    first_party: bool | None = None
    refresh_without_offline_access: bool | None = None
    signing_alg: str | None = None


@dataclass(slots=True)
class _Cache:
    entries: dict[str, tuple[float, Client | None]] = field(default_factory=dict)


class ClientRegistry:
    def __init__(
        self,
        clients: ClientRepository,
        audit: AuditSink,
        clock: Clock,
        *,
        allow_http: bool,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self._audit = audit
        self._clock = clock
        self._allow_http = allow_http
        self._monotonic = monotonic
        self._cache = _Cache()

    def find(self, client_id: str) -> Client | None:
        if len(client_id) > 64:
            return None
        entry = self._fresh_entry(client_id)
        if entry is not None:
            return entry[1]  # None too: an unknown client is remembered as such
        client = self._clients.find(client_id)
        self._cache.entries[client_id] = (self._monotonic(), client)
        return client

    def cached(self, client_id: str) -> Client | None:
        """The client if this node looked it up less than ``CACHE_TTL_S`` ago; None when it is
        unknown, or not known here (``find`` reads the database)."""
        entry = self._fresh_entry(client_id)
        return None if entry is None else entry[1]

    def _fresh_entry(self, client_id: str) -> tuple[float, Client | None] | None:
        """This node's entry for ``client_id`` if younger than ``CACHE_TTL_S``, else None."""
        entry = self._cache.entries.get(client_id)
        if entry is None or self._monotonic() - entry[0] >= CACHE_TTL_S:
            return None
        return entry

    def list(self) -> list[Client]:
        return self._clients.list()

    def register(
        self, new: NewClient, *, actor: str, origin: Origin | None = None
    ) -> tuple[Client, str | None]:
        """Add a client; returns it and its secret (None for public or private_key_jwt clients)."""
        method = _auth_method(new)
        secret, secret_hash = None, None
        if method in (AuthMethod.CLIENT_SECRET_BASIC, AuthMethod.CLIENT_SECRET_POST):
            secret, secret_hash = new_client_secret()
        grants = _grants(new, method)
        client = Client(
            client_id=new_client_id(),
            name=_name(new.name),
            secret_hash=secret_hash,
            auth_method=method,
            redirect_uris=self._uris(new.redirect_uris, "redirect_uri"),
            post_logout_redirect_uris=self._uris(
                new.post_logout_redirect_uris, "post_logout_redirect_uri"
            ),
            backchannel_logout_uri=self._backchannel(new.backchannel_logout_uri),
            grant_types=grants,
            scopes=_scopes(new.scopes),
            first_party=new.first_party,
            require_pkce=True,
            refresh_without_offline_access=new.refresh_without_offline_access,
            signing_alg=_signing_alg(new.signing_alg),
            jwks=_jwks(new.jwks, method),
            created_at=self._clock.now(),
        )
        _check_redirects(client)
        self._unique_name(client)
        self._clients.add(client)
        self._record("client.added", actor, client.client_id, origin)
        return client, secret

    def update(
        self, client_id: str, changes: ClientChanges, *, actor: str, origin: Origin | None = None
    ) -> Client:
        """Change a client's settings, through the same checks as ``register``."""
        client = self.existing(client_id)
        grants = client.grant_types
        if changes.grant_types is not None:
            grants = _grants(NewClient("", grant_types=changes.grant_types), client.auth_method)
        logout = client.backchannel_logout_uri
        if changes.backchannel_logout_uri is not None:
            logout = self._backchannel(changes.backchannel_logout_uri)
        updated = replace(
            client,
            name=client.name if changes.name is None else _name(changes.name),
            redirect_uris=self._changed(
                changes.redirect_uris, client.redirect_uris, "redirect_uri"
            ),
            post_logout_redirect_uris=self._changed(
                changes.post_logout_redirect_uris,
                client.post_logout_redirect_uris,
                "post_logout_redirect_uri",
            ),
            backchannel_logout_uri=logout,
            grant_types=grants,
            scopes=client.scopes if changes.scopes is None else _scopes(changes.scopes),
            first_party=_keep(changes.first_party, client.first_party),
            refresh_without_offline_access=_keep(
                changes.refresh_without_offline_access, client.refresh_without_offline_access
            ),
            signing_alg=_signing_alg(changes.signing_alg or client.signing_alg),
        )
        _check_redirects(updated)
        self._unique_name(updated)
        self._clients.update(updated)
        self._cache.entries.pop(client.client_id, None)
        self._record("client.updated", actor, client.client_id, origin)
        return updated

    def existing(self, client_id: str) -> Client:
        """A client by its id (the admin console and API), or NotFoundError."""
        client = self._clients.find(client_id) if len(client_id) <= 64 else None
        if client is None:
            raise NotFoundError("no such client")
        return client

    def _changed(
        self, uris: Sequence[str] | None, current: tuple[str, ...], what: str
    ) -> tuple[str, ...]:
        return current if uris is None else self._uris(uris, what)

    def _unique_name(self, client: Client) -> None:
        """Two applications with one name could not be told apart on the consent page."""
        same = self._clients.find_by_name(client.name)
        if same is not None and same.client_id != client.client_id:
            raise ConflictError(f"a client named {client.name!r} exists already", field="name")

    def get(self, client_ref: str) -> Client:
        """A client by id or by name."""
        client = self._clients.find(client_ref) or self._clients.find_by_name(client_ref)
        if client is None:
            raise ValidationError(f"no client {client_ref!r}")
        return client

    def remove(self, client_ref: str, *, actor: str, origin: Origin | None = None) -> Client:
        client = self.get(client_ref)
        self._clients.remove(client.client_id)
        self._cache.entries.pop(client.client_id, None)
        self._record("client.removed", actor, client.client_id, origin)
        return client

    def rotate_secret(
        self, client_ref: str, *, actor: str, origin: Origin | None = None
    ) -> tuple[Client, str]:
        client = self.get(client_ref)
        if client.auth_method not in (
            AuthMethod.CLIENT_SECRET_BASIC,
            AuthMethod.CLIENT_SECRET_POST,
        ):
            raise ValidationError(
                f"client {client.name!r} has no secret ({client.auth_method})", field="secret"
            )
        secret, secret_hash = new_client_secret()
        self._clients.set_secret_hash(client.client_id, secret_hash)
        self._cache.entries.pop(client.client_id, None)
        self._record("client.secret_rotated", actor, client.client_id, origin)
        return client, secret

    def _uris(self, uris: Sequence[str], what: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self._uri(uri, what) for uri in uris))

    def _backchannel(self, uri: str | None) -> str | None:
        return None if not uri else self._uri(uri, "backchannel_logout_uri")

    def _uri(self, uri: str, what: str) -> str:
        """OAuth 2.0 Security BCP (RFC 9700 §4.1): absolute URIs, no fragment (RFC 6749 §3.1.2),
        https unless on the loopback (RFC 8252 §7.3) or allow_insecure_http is set."""
        try:
            parts = urlsplit(uri)
        except ValueError:
            raise ValidationError(f"{what} is not a URL: {uri!r}", field=what) from None
        if not parts.scheme or not parts.netloc or parts.fragment or len(uri) > MAX_URI_LENGTH:
            raise ValidationError(
                f"{what} must be an absolute URL without fragment: {uri!r}", field=what
            )
        if any(char.isspace() for char in uri):
            raise ValidationError(f"{what} must not contain spaces: {uri!r}", field=what)
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS and not self._allow_http:
            raise ValidationError(
                f"{what} must use https (plain http only for localhost, or with "
                f"allow_insecure_http on a test installation): {uri!r}",
                field=what,
            )
        return uri

    def _record(self, action: str, actor: str, client_id: str, origin: Origin | None) -> None:
        origin = origin or Origin()
        self._audit.record(
            AuditEvent(
                action=action,
                outcome=Outcome.SUCCESS,
                at=self._clock.now(),
                actor=actor,
                subject=client_id,
                source_address=origin.source_address,
                user_agent=origin.user_agent,
                request_id=origin.request_id,
            )
        )


def _keep(value: bool | None, current: bool) -> bool:
    return current if value is None else value


def _check_redirects(client: Client) -> None:
    if GrantType.AUTHORIZATION_CODE in client.grant_types and not client.redirect_uris:
        raise ValidationError(
            "at least one --redirect-uri is needed for the code flow", field="redirect_uri"
        )


def _name(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > MAX_NAME_LENGTH or any(ord(char) < 0x20 for char in name):
        raise ValidationError("client name must be 1 to 200 printable characters", field="name")
    return name


def _auth_method(new: NewClient) -> AuthMethod:
    if new.public:
        if new.auth_method not in (None, AuthMethod.NONE.value):
            raise ValidationError(
                "a public client has no authentication method", field="auth_method"
            )
        return AuthMethod.NONE
    try:
        method = AuthMethod(new.auth_method or AuthMethod.CLIENT_SECRET_BASIC.value)
    except ValueError:
        raise ValidationError(
            f"unknown authentication method {new.auth_method!r}", field="auth_method"
        ) from None
    if method is AuthMethod.NONE:
        raise ValidationError(
            "use --public for a client without authentication", field="auth_method"
        )
    return method


def _grants(new: NewClient, method: AuthMethod) -> tuple[GrantType, ...]:
    try:
        grants = tuple(dict.fromkeys(GrantType(value) for value in new.grant_types))
    except ValueError as exc:
        raise ValidationError(f"unknown grant type: {exc}", field="grant_types") from None
    grants = grants or DEFAULT_GRANTS
    if method is AuthMethod.NONE and GrantType.CLIENT_CREDENTIALS in grants:
        # RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential
        # clients."
        raise ValidationError(
            "a public client cannot use the client credentials grant", field="grant_types"
        )
    return grants


def _scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(scopes)) or DEFAULT_SCOPES
    known = (*SUPPORTED_SCOPES, *SERVICE_SCOPES)
    unknown = [scope for scope in chosen if scope not in known]
    if unknown:
        raise ValidationError(f"unknown scope(s): {' '.join(unknown)}", field="scopes")
    return chosen


def _signing_alg(alg: str) -> str:
    if alg not in SIGNING_ALGS:
        raise ValidationError(
            f"signing algorithm must be one of {', '.join(SIGNING_ALGS)}", field="signing_alg"
        )
    return alg


def _jwks(raw: str | None, method: AuthMethod) -> str | None:
    if method is not AuthMethod.PRIVATE_KEY_JWT:
        return None
    try:
        keys = json.loads(raw or "")
    except ValueError:
        raise ValidationError(
            "private_key_jwt needs the client's public keys (JWKS JSON)", field="jwks"
        ) from None
    if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
        raise ValidationError(
            "the client's JWKS must be a JSON object with a keys array", field="jwks"
        )
    return json.dumps(keys)
