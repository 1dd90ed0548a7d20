"""Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414 §2).

A standard client configures itself from this document alone: every endpoint, algorithm and
method Quivive supports is listed, nothing it does not.
"""

from __future__ import annotations

from typing import Any

from quivive.protocols.oidc.acr import ACR_EMERGENCY, ACR_LEVELS
from quivive.protocols.oidc.claims import SUPPORTED_SCOPES, supported_claims
from quivive.protocols.oidc.jose_keys import SUPPORTED_ALGS

DISCOVERY_PATH = "/.well-known/openid-configuration"
AUTHORIZE_PATH = "/authorize"
TOKEN_PATH = "/token"  # noqa: S105 - a path
USERINFO_PATH = "/userinfo"
JWKS_PATH = "/jwks.json"
INTROSPECT_PATH = "/introspect"
REVOKE_PATH = "/revoke"
END_SESSION_PATH = "/end-session"
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


def provider_metadata(issuer: str) -> dict[str, Any]:
    # Discovery §3: "issuer REQUIRED. URL using the https scheme with no query or fragment
    # components"; settings already refuse a non-https public_url outside localhost.
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + AUTHORIZE_PATH,
        "token_endpoint": issuer + TOKEN_PATH,
        "userinfo_endpoint": issuer + USERINFO_PATH,
        "jwks_uri": issuer + JWKS_PATH,
        "introspection_endpoint": issuer + INTROSPECT_PATH,
        "revocation_endpoint": issuer + REVOKE_PATH,
        "end_session_endpoint": issuer + END_SESSION_PATH,
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SUPPORTED_ALGS),
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": supported_claims(),
        "acr_values_supported": [*ACR_LEVELS, ACR_EMERGENCY],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["fr", "en"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }
