"""OAuth clients (relying parties): what Quivive knows of each application that signs users in.

A confidential client proves itself with a secret (only its SHA-256 is stored: the secret is 256
random bits, so no stretching is needed) or a signed JWT (``private_key_jwt``); a public client
(a single-page or native app) has no secret and must use PKCE.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

# 32 bytes = 256 bits: secrets are compared by hash, so they must be unguessable on their own.
CLIENT_SECRET_BYTES = 32
CLIENT_ID_BYTES = 16


class AuthMethod(enum.StrEnum):
    """RFC 6749 §2.3 / OIDC Core §9 token endpoint authentication methods."""

    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105 - a method name
    PRIVATE_KEY_JWT = "private_key_jwt"
    NONE = "none"  # public clients


class GrantType(enum.StrEnum):
    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant name
    CLIENT_CREDENTIALS = "client_credentials"


SIGNING_ALGS = ("RS256", "ES256")
DEFAULT_SIGNING_ALG = "RS256"  # OIDC Core §15.1: every OP MUST support RS256; every RP can use it
DEFAULT_GRANTS = (GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN)
DEFAULT_SCOPES = ("openid", "profile", "email", "offline_access")


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    secret_hash: str | None
    auth_method: AuthMethod
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    backchannel_logout_uri: str | None
    grant_types: tuple[GrantType, ...]
    scopes: tuple[str, ...]
    first_party: bool
    require_pkce: bool
    refresh_without_offline_access: bool
    signing_alg: str
    jwks: str | None  # the client's public keys (JSON), for private_key_jwt
    created_at: datetime

    @property
    def is_public(self) -> bool:
        return self.auth_method is AuthMethod.NONE


def new_client_id() -> str:
    # Hex, not base64url: client ids are typed on command lines (`quivive client remove ID`), where
    # one starting with "-" (1 in 64 base64url ids) would be taken for an option.
    return secrets.token_hex(CLIENT_ID_BYTES)


def new_client_secret() -> tuple[str, str]:
    """A fresh (secret, secret_hash): the secret is shown once, the hash stored."""
    secret = secrets.token_urlsafe(CLIENT_SECRET_BYTES)
    return secret, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()
