"""The authorization request and response of the code flow (RFC 6749 §4.1, OIDC Core §3.1.2).

Validation happens in two stages, as RFC 6749 §4.1.2.1 requires: first the client and its
redirect URI (an error there is shown to the user, never redirected), then everything else (an
error there goes back to the client's redirect URI with ``error`` and ``state``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from quivive.domain.clients import Client, GrantType
from quivive.protocols.oidc import pkce
from quivive.protocols.oidc.errors import (
    InvalidRequest,
    InvalidScope,
    OAuthError,
    RequestNotSupported,
    RequestNotTrusted,
    RequestUriNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from quivive.protocols.oidc.params import space_list

PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})
OPENID = "openid"
OFFLINE_ACCESS = "offline_access"
# A max_age beyond a year is a mistake; it would also overflow nothing, but say so early.
MAX_MAX_AGE = 366 * 24 * 3600


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: frozenset[str]
    max_age: int | None
    login_hint: str | None
    ui_locales: tuple[str, ...]
    acr_values: tuple[str, ...]


def trusted_target(
    params: Mapping[str, str], find_client: Callable[[str], Client | None]
) -> tuple[Client, str]:
    """The client and its redirect URI, or RequestNotTrusted (shown to the user, not redirected)."""
    client_id = params.get("client_id")
    client = find_client(client_id) if client_id else None
    if client is None:
        raise RequestNotTrusted("unknown client")
    redirect_uri = params.get("redirect_uri")
    # OIDC Core §3.1.2.1: redirect_uri is REQUIRED and "MUST exactly match one of the
    # Redirection URI values for the Client pre-registered at the OpenID Provider, with the
    # matching performed as described in Section 6.2.1 of [RFC3986] (Simple String Comparison)."
    if redirect_uri is None or redirect_uri not in client.redirect_uris:
        raise RequestNotTrusted("redirect_uri not registered for this client")
    return client, redirect_uri


def validate(params: Mapping[str, str], client: Client, redirect_uri: str) -> AuthorizationRequest:
    """Everything after the redirect URI; OAuthError here is sent back to the client."""
    _check_unsupported(params)
    # RFC 6749 §4.1.1: response_type "REQUIRED. Value MUST be set to "code"."
    if params.get("response_type") != "code":
        raise UnsupportedResponseType("only response_type=code is supported")
    if GrantType.AUTHORIZATION_CODE not in client.grant_types:
        raise UnauthorizedClient("client may not use the authorization code grant")
    scope = space_list(params, "scope")
    # OIDC Core §3.1.2.1: "OpenID Connect requests MUST contain the openid scope value."
    if OPENID not in scope:
        raise InvalidScope("the openid scope is required")
    unknown = [value for value in scope if value not in client.scopes]
    if unknown:
        raise InvalidScope("scope not allowed for this client: " + " ".join(unknown))
    prompt = frozenset(space_list(params, "prompt"))
    if not prompt <= PROMPT_VALUES:
        raise InvalidRequest("unknown prompt value")
    # OIDC Core §3.1.2.1: "If this parameter contains none with any other value, an error is
    # returned."
    if "none" in prompt and len(prompt) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values")
    challenge = pkce.check_challenge(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
        required=client.is_public or client.require_pkce,
    )
    return AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        state=params.get("state"),
        nonce=params.get("nonce"),
        code_challenge=challenge,
        prompt=prompt,
        max_age=_max_age(params.get("max_age")),
        login_hint=params.get("login_hint"),
        ui_locales=space_list(params, "ui_locales"),
        acr_values=space_list(params, "acr_values"),
    )


def _check_unsupported(params: Mapping[str, str]) -> None:
    # OIDC Core §3.1.2.6: request_not_supported / request_uri_not_supported.
    if "request" in params:
        raise RequestNotSupported("request objects are not supported")
    if "request_uri" in params:
        raise RequestUriNotSupported("request_uri is not supported")
    mode = params.get("response_mode", "query")
    if mode != "query":
        raise InvalidRequest("only response_mode=query is supported")


def _max_age(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_MAX_AGE:
        raise InvalidRequest("max_age must be a number of seconds")
    return int(raw)


def redirect_with(redirect_uri: str, values: Mapping[str, str | None]) -> str:
    """The redirect URI with response parameters added to its query (RFC 6749 §4.1.2).

    "The redirection endpoint URI MAY include an "application/x-www-form-urlencoded" formatted
    ... query component ..., which MUST be retained when adding additional query parameters."
    """
    query = urlencode({name: value for name, value in values.items() if value is not None})
    separator = "&" if "?" in redirect_uri else "?"
    return f"{redirect_uri}{separator}{query}"


def success_redirect(request: AuthorizationRequest, code: str, issuer: str) -> str:
    # RFC 9207: "iss" in the response lets a client tell issuers apart (mix-up attacks).
    return redirect_with(
        request.redirect_uri, {"code": code, "state": request.state, "iss": issuer}
    )


def error_redirect(redirect_uri: str, error: OAuthError, state: str | None, issuer: str) -> str:
    values = {
        "error": error.code,
        "error_description": error.description,
        "state": state,
        "iss": issuer,
    }
    return redirect_with(redirect_uri, values)
