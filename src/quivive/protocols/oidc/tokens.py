"""Token contents: the ID token (OIDC Core §2) and the JWT access token (RFC 9068).

Claims are built and checked here; signing is ``jose_keys``'s. Times are NumericDate seconds.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from quivive.protocols.oidc.errors import InvalidToken

ID_TOKEN_TYP = "JWT"  # noqa: S105 - a media type
# RFC 9068 §2.1: "Resource servers MUST verify that the typ header value is "at+jwt" or
# "application/at+jwt" and reject tokens carrying any other type value."
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - a media type
ACCESS_TOKEN_TYPS = ("at+jwt", "application/at+jwt")
JTI_BYTES = 16


def numeric_date(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass(frozen=True, slots=True)
class Authentication:
    """How the end-user authenticated, as the tokens tell it."""

    subject: str
    auth_time: datetime
    acr: str
    amr: tuple[str, ...]
    sid: str | None = None


def new_jti(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(JTI_BYTES)


def id_token_claims(
    *,
    issuer: str,
    client_id: str,
    auth: Authentication,
    nonce: str | None,
    now: datetime,
    lifetime: timedelta,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """OIDC Core §2: iss, sub, aud, exp, iat REQUIRED; auth_time, nonce, acr, amr as requested.

    "If present in the Authentication Request, Authorization Servers MUST include a nonce Claim
    in the ID Token with the Claim Value being the nonce value sent in the Authentication
    Request."
    """
    claims: dict[str, Any] = {
        **(extra or {}),
        "iss": issuer,
        "sub": auth.subject,
        "aud": client_id,
        "azp": client_id,
        "exp": numeric_date(now + lifetime),
        "iat": numeric_date(now),
        "auth_time": numeric_date(auth.auth_time),
        "acr": auth.acr,
        "amr": list(auth.amr),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if auth.sid is not None:
        claims["sid"] = auth.sid
    return claims


def access_token_claims(
    *,
    issuer: str,
    client_id: str,
    subject: str,
    scope: tuple[str, ...],
    jti: str,
    now: datetime,
    lifetime: timedelta,
    auth: Authentication | None = None,
) -> dict[str, Any]:
    """RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti REQUIRED.

    ``aud`` is the client's own identifier: the resource is the relying party's back end unless a
    resource indicator says otherwise. For the client credentials grant RFC 9068 says "the value
    of "sub" SHOULD correspond to an identifier the authorization server uses to indicate the
    client application": the client_id.
    """
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": client_id,
        "client_id": client_id,
        "exp": numeric_date(now + lifetime),
        "iat": numeric_date(now),
        "jti": jti,
        "scope": " ".join(scope),
    }
    if auth is not None:
        claims |= {
            "auth_time": numeric_date(auth.auth_time),
            "acr": auth.acr,
            "amr": list(auth.amr),
        }
        if auth.sid is not None:
            claims["sid"] = auth.sid
    return claims


def check_claims(claims: Mapping[str, Any], *, issuer: str, now: datetime) -> None:
    """Issuer and expiry of a token we signed (RFC 9068 §4, RFC 7519 §4.1.4)."""
    if claims.get("iss") != issuer:
        raise InvalidToken("token from another issuer")
    exp = claims.get("exp")
    # RFC 7519 §4.1.4: "the current date/time MUST be before the expiration date/time"
    if not isinstance(exp, int) or numeric_date(now) >= exp:
        raise InvalidToken("token expired")
