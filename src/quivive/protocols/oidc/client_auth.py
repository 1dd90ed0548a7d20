"""Client authentication at the token, introspection and revocation endpoints.

RFC 6749 §2.3.1 (client_secret_basic and client_secret_post), OIDC Core §9 and RFC 7523 §2.2/§3
(private_key_jwt), and public clients (``none``, RFC 6749 §2.1) which only name themselves.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from quivive.domain.clients import AuthMethod, Client, hash_secret
from quivive.protocols.oidc.errors import InvalidClient, InvalidRequest
from quivive.protocols.oidc.tokens import numeric_date

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ("RS256", "ES256", "PS256")
# A client assertion is meant for one request; an hour is far beyond any clock skew.
MAX_ASSERTION_LIFETIME_S = 3600
# Clocks of clients and server drift apart; a minute is tolerated on the upper bound.
CLOCK_SKEW_S = 60


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    method: AuthMethod
    secret: str | None = None
    assertion: str | None = None


def extract(authorization: str | None, form: Mapping[str, str]) -> ClientCredentials:
    """What the request presents; InvalidRequest/InvalidClient when it is malformed or mixed."""
    presented: list[ClientCredentials] = []
    if authorization and authorization[:6].lower() == "basic ":
        presented.append(_basic(authorization[6:].strip()))
    if "client_secret" in form:
        presented.append(_named(form, AuthMethod.CLIENT_SECRET_POST, secret=form["client_secret"]))
    if "client_assertion" in form or "client_assertion_type" in form:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise InvalidClient("unsupported client_assertion_type")
        presented.append(_assertion(form))
    # RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
    # request."
    if len(presented) > 1:
        raise InvalidRequest("more than one client authentication method")
    if presented:
        found = presented[0]
        if form.get("client_id", found.client_id) != found.client_id:
            raise InvalidClient("client_id does not match the authenticated client")
        return found
    if "client_id" in form:
        return ClientCredentials(form["client_id"], AuthMethod.NONE)
    raise InvalidClient("client authentication required")


def _basic(encoded: str) -> ClientCredentials:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise InvalidClient("malformed Basic credentials")
    # RFC 6749 §2.3.1: both are "encoded using the application/x-www-form-urlencoded encoding
    # algorithm" before Basic encoding.
    return ClientCredentials(
        unquote_plus(client_id), AuthMethod.CLIENT_SECRET_BASIC, secret=unquote_plus(secret)
    )


def _named(form: Mapping[str, str], method: AuthMethod, *, secret: str) -> ClientCredentials:
    client_id = form.get("client_id")
    if not client_id:
        raise InvalidClient("client_id required")
    return ClientCredentials(client_id, method, secret=secret)


def _assertion(form: Mapping[str, str]) -> ClientCredentials:
    assertion = form.get("client_assertion", "")
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        client_id = claims["sub"] if isinstance(claims, dict) else None
    except (IndexError, ValueError, KeyError, TypeError):
        raise InvalidClient("malformed client assertion") from None
    if not isinstance(client_id, str) or not client_id:
        raise InvalidClient("malformed client assertion")
    return ClientCredentials(client_id, AuthMethod.PRIVATE_KEY_JWT, assertion=assertion)


def authenticate(
    presented: ClientCredentials,
    client: Client | None,
    *,
    audiences: Collection[str],
    now: datetime,
) -> Client:
    """The client, if ``presented`` proves it is; InvalidClient otherwise (one message for all)."""
    if client is None or presented.method is not client.auth_method:
        raise InvalidClient("client authentication failed")
    if presented.method in (AuthMethod.CLIENT_SECRET_BASIC, AuthMethod.CLIENT_SECRET_POST):
        given = hash_secret(presented.secret or "")
        if client.secret_hash is None or not hmac.compare_digest(given, client.secret_hash):
            raise InvalidClient("client authentication failed")
    elif presented.method is AuthMethod.PRIVATE_KEY_JWT:
        _check_assertion(presented.assertion or "", client, audiences, now)
    return client


def _verified_claims(assertion: str, jwks: str) -> dict[str, Any]:
    """The assertion's claims if one of the client's keys signed it.

    Clients often leave ``kid`` out when they have a single key (Authlib does): then each of
    the client's keys is tried, which costs at most a handful of verifications.
    """
    try:
        keys = KeySet.import_key_set(json.loads(jwks))
    except (JoseError, ValueError, TypeError):
        raise InvalidClient("client authentication failed") from None
    for key in keys.keys:
        try:
            return dict(jwt.decode(assertion, key, algorithms=ASSERTION_ALGS).claims)
        except (JoseError, ValueError, TypeError):
            continue
    raise InvalidClient("client authentication failed")


def _check_assertion(
    assertion: str, client: Client, audiences: Collection[str], now: datetime
) -> None:
    claims = _verified_claims(assertion, client.jwks or '{"keys": []}')
    # RFC 7523 §3: iss and sub MUST be the client_id; "The JWT MUST contain an "aud" (audience)
    # claim containing a value that identifies the authorization server as an intended
    # audience"; "The JWT MUST contain an "exp" (expiration time) claim"
    audience = claims.get("aud")
    listed = audience if isinstance(audience, list) else [audience]
    exp = claims.get("exp")
    if (
        claims.get("iss") != client.client_id
        or claims.get("sub") != client.client_id
        or not set(listed) & set(audiences)
        or not isinstance(exp, int)
        or not numeric_date(now)
        < exp
        <= numeric_date(now) + MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S
    ):
        raise InvalidClient("client authentication failed")
