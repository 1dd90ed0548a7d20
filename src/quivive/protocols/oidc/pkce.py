"""Proof Key for Code Exchange (RFC 7636), S256 only.

RFC 7636 §4.2 allows "plain" only when a client cannot do SHA-256; every current platform can, and
"plain" protects nothing once the request is seen, so Quivive refuses it (OAuth 2.1 and RFC 9700
§2.1.1 recommend S256).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from quivive.protocols.oidc.errors import InvalidGrant, InvalidRequest

S256 = "S256"
# RFC 7636 §4.1: code_verifier = high-entropy cryptographic random STRING using the unreserved
# characters [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~", with a minimum length of 43
# characters and a maximum length of 128 characters.
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
# The S256 challenge is BASE64URL(SHA256(verifier)) without padding: exactly 43 characters.
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


def check_challenge(challenge: str | None, method: str | None, *, required: bool) -> str | None:
    """Validate the authorization request's PKCE parameters; the challenge to store, or None."""
    if challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method without code_challenge")
        if required:
            # RFC 7636 §4.4.1: "If the server requires Proof Key for Code Exchange (PKCE) by OAuth
            # public clients and the client does not send the "code_challenge" in the request, the
            # authorization endpoint MUST return the authorization error response with the
            # "error" value set to "invalid_request"."
            raise InvalidRequest("code_challenge required (PKCE with S256)")
        return None
    # RFC 7636 §4.3: "defaults to "plain" if not present in the request"; plain is refused.
    if method != S256:
        raise InvalidRequest("code_challenge_method must be S256")
    if not _CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge malformed")
    return challenge


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(challenge: str | None, verifier: str | None) -> None:
    """RFC 7636 §4.6: compare BASE64URL(SHA256(code_verifier)) with the stored challenge."""
    if challenge is None:
        if verifier is not None:
            # RFC 9700 §2.1.1: a verifier without a challenge is a PKCE downgrade attempt.
            raise InvalidGrant("code_verifier sent but no code_challenge was")
        return
    if verifier is None:
        raise InvalidGrant("code_verifier required")
    if not _VERIFIER.fullmatch(verifier):
        raise InvalidGrant("code_verifier malformed")
    # RFC 7636 §4.6: "If the values are not equal, an error response indicating "invalid_grant"
    # as described in Section 5.2 of [RFC6749] MUST be returned."
    if not hmac.compare_digest(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match code_challenge")
