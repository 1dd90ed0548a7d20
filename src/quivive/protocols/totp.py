"""RFC 6238 (TOTP) over RFC 4226 (HOTP), through pyotp, with Quivive's stricter window.

RFC 6238 section 5.2: "We RECOMMEND that at most one time step is allowed as the network delay."
Quivive accepts the current step and the previous one only (REQUIREMENTS.md, TOTP), never the
next one. Section 5.2 also says the verifier "MUST NOT accept the second attempt of the same OTP
after the successful validation has been issued": that is the caller's compare-and-set on the
step returned here (``storage.totp.TotpRepository.claim_step``).

Parameters are the ones every authenticator app understands (FreeOTP, Aegis, Google and Microsoft
Authenticator): SHA-1, 6 digits, 30 seconds.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from datetime import datetime
from urllib.parse import quote

import pyotp

DIGITS = 6
PERIOD_S = 30
# RFC 4226 section 4 R6: "the length of the shared secret MUST be at least 128 bits" and
# RECOMMENDS 160; REQUIREMENTS.md asks for 160 or more.
SECRET_BYTES = 20
MIN_SECRET_BYTES = 20
# Steps accepted besides the current one: 1 = the previous step (RFC 6238 section 5.2).
PAST_STEPS = 1


def new_secret() -> str:
    """A fresh base32 secret of ``SECRET_BYTES`` random bytes (no padding: apps dislike it)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def secret_bytes(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def step_at(moment: datetime) -> int:
    return int(moment.timestamp()) // PERIOD_S


def code_at(secret: str, step: int, *, digits: int = DIGITS) -> str:
    _check_secret(secret)
    return pyotp.TOTP(secret, digits=digits, interval=PERIOD_S).generate_otp(step)


def matching_step(secret: str, code: str, moment: datetime) -> int | None:
    """The step whose code ``code`` is (current or previous only), or None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    current = step_at(moment)
    for step in range(current, current - PAST_STEPS - 1, -1):
        if hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/Issuer:account?...`` URI (Key Uri Format) for QR codes and copying."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = f"secret={secret}&issuer={quote(issuer, safe='')}&algorithm=SHA1"
    return f"otpauth://totp/{label}?{query}&digits={DIGITS}&period={PERIOD_S}"


def _check_secret(secret: str) -> None:
    if len(secret_bytes(secret)) < MIN_SECRET_BYTES:
        raise ValueError(f"TOTP secret shorter than {MIN_SECRET_BYTES * 8} bits")
