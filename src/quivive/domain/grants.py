"""Grants: one user's authorization of one client, and every token issued from it.

A grant starts as an authorization code (single use, 60 s) and lives on through its refresh
tokens. Revoking the grant revokes every access and refresh token issued from it: that is what a
reused code, a reused refresh token, a logout or a disabled account does.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

# RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED"; a code
# is redeemed by the client within a second or two, so 60 s leaves only room for clock skew.
CODE_LIFETIME = timedelta(seconds=60)
# 256 bits, as session identifiers: codes and refresh tokens are bearer secrets.
TOKEN_BYTES = 32
GRANT_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    code_hash: str
    client_id: str
    user_id: int
    session_hash: str | None
    sid: str | None  # the session id this grant's relying party was told (Back-Channel Logout)
    redirect_uri: str
    scope: tuple[str, ...]
    nonce: str | None
    code_challenge: str | None
    auth_time: datetime
    acr: str
    amr: tuple[str, ...]
    created_at: datetime
    code_expires_at: datetime
    code_used_at: datetime | None
    offline: bool  # refresh tokens outlive the browser session (offline_access)
    revoked_at: datetime | None


def new_grant_id() -> str:
    return secrets.token_urlsafe(GRANT_ID_BYTES)


def new_secret_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def session_sid(session_hash: str) -> str:
    """The ``sid`` relying parties see for a session (Back-Channel Logout §2.1).

    Derived from the stored hash, never the cookie value, and hashed again so that it cannot be
    used to look a session up in a leaked database dump.
    """
    return hashlib.sha256(b"sid:" + session_hash.encode("ascii")).hexdigest()[:32]
