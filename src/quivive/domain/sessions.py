"""Sessions: how a person proved who they are, and for how long that proof holds.

Identifiers are random tokens of 256 bits handed to the browser; only their SHA-256 is stored, so a
read of the database does not yield usable sessions (ASVS 7.2).
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

# 32 bytes = 256 bits, twice the 128-bit floor of ASVS 7.2.3 / NIST 800-63B 7.1.
SESSION_TOKEN_BYTES = 32


class AssuranceLevel(enum.IntEnum):
    """NIST SP 800-63B authenticator assurance levels."""

    AAL1 = 1
    AAL2 = 2
    AAL3 = 3


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: str
    user_id: int
    created_at: datetime
    auth_time: datetime
    last_seen_at: datetime
    idle_timeout: timedelta
    expires_at: datetime  # absolute limit, fixed at creation
    amr: tuple[str, ...]  # RFC 8176 authentication method references
    aal: AssuranceLevel
    source_address: str | None
    user_agent: str | None
    revoked_at: datetime | None
    # Opened by emergency access (bris de glace): acr urn:quivive:acr:emergency, never renewed.
    emergency: bool = False

    def is_valid_at(self, now: datetime) -> bool:
        # storage.session_validity states this rule in SQL; a contract test keeps the two equal.
        return (
            self.revoked_at is None
            and now < self.expires_at
            and now < self.last_seen_at + self.idle_timeout
        )


def new_session_token() -> tuple[str, str]:
    """A fresh (token, token_hash) pair: the token goes to the browser, the hash to storage."""
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    # A plain hash suffices: the token has 256 bits of entropy, so no salt or stretching is needed.
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


# Per-level caps from NIST SP 800-63B-4 section 2 (reauthentication): the configured timeouts can be
# shorter, never longer. AAL1 has no idle limit in NIST; Quivive still applies the configured one.
LEVEL_CAPS: dict[AssuranceLevel, tuple[timedelta, timedelta]] = {
    AssuranceLevel.AAL1: (timedelta(days=30), timedelta(days=30)),
    AssuranceLevel.AAL2: (timedelta(hours=1), timedelta(hours=24)),
    AssuranceLevel.AAL3: (timedelta(minutes=15), timedelta(hours=12)),
}


def timeouts_for(
    level: AssuranceLevel, idle: timedelta, absolute: timedelta
) -> tuple[timedelta, timedelta]:
    """The (idle, absolute) timeouts for a session at ``level``, capped by NIST for that level."""
    idle_cap, absolute_cap = LEVEL_CAPS[level]
    return min(idle, idle_cap), min(absolute, absolute_cap)
