"""Logout: RP-Initiated Logout 1.0 (end_session_endpoint) and Back-Channel Logout 1.0.

The logout token (Back-Channel Logout §2.4) is a JWT with ``typ: logout+jwt`` sent by POST to the
client's registered ``backchannel_logout_uri``; it names the session (``sid``) and/or the user
(``sub``), carries the back-channel logout event, and never a ``nonce``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from quivive.protocols.oidc.authorization import redirect_with
from quivive.protocols.oidc.tokens import new_jti, numeric_date

LOGOUT_TOKEN_TYP = "logout+jwt"  # noqa: S105 - a media type
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# Back-Channel Logout §2.4 recommends a short lifetime ("at most two minutes" is typical).
LOGOUT_TOKEN_LIFETIME = timedelta(minutes=2)


def logout_token_claims(
    *, issuer: str, client_id: str, subject: str | None, sid: str | None, now: datetime
) -> dict[str, Any]:
    # §2.4: "A Logout Token MUST contain either a sub or a sid Claim, and MAY contain both."
    # "A Logout Token MUST NOT contain a nonce Claim"
    if subject is None and sid is None:
        raise ValueError("a logout token names a subject, a session or both")
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": client_id,
        "iat": numeric_date(now),
        "exp": numeric_date(now + LOGOUT_TOKEN_LIFETIME),
        "jti": new_jti(),
        "events": {BACKCHANNEL_EVENT: {}},
    }
    if subject is not None:
        claims["sub"] = subject
    if sid is not None:
        claims["sid"] = sid
    return claims


def post_logout_target(
    registered: tuple[str, ...], requested: str | None, state: str | None
) -> str | None:
    """Where to send the browser after logout, or None (RP-Initiated Logout §3).

    "The value MUST have been previously registered with the OP" and must match exactly; the
    ``state`` is passed back unchanged.
    """
    if requested is None or requested not in registered:
        return None
    if state is None:
        return requested
    return redirect_with(requested, {"state": state})
