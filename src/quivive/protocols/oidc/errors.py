"""OAuth 2.0 and OpenID Connect error responses (RFC 6749 §4.1.2.1 and §5.2, OIDC Core §3.1.2.6).

Each class carries the wire ``error`` code; the edge decides the HTTP status and the form
(redirect, JSON body or page). ``description`` is sent to the client: it must never hold a secret.
"""

from __future__ import annotations

from quivive.errors import QuiviveError


class OAuthError(QuiviveError):
    code = "server_error"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidRequest(OAuthError):
    code = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: client authentication failed (unknown client, bad secret, wrong method)."""

    code = "invalid_client"


class InvalidGrant(OAuthError):
    code = "invalid_grant"


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    code = "unsupported_response_type"


class InvalidScope(OAuthError):
    code = "invalid_scope"


class AccessDenied(OAuthError):
    code = "access_denied"


class LoginRequired(OAuthError):
    code = "login_required"


class ConsentRequired(OAuthError):
    code = "consent_required"


class InvalidToken(OAuthError):
    """RFC 6750 §3.1: the access token is expired, revoked, malformed or invalid."""

    code = "invalid_token"


class InsufficientScope(OAuthError):
    code = "insufficient_scope"


class RequestNotTrusted(OAuthError):
    """The request cannot be answered by redirect: unknown client or unregistered redirect URI.

    OIDC Core §3.1.2.6 / RFC 6749 §4.1.2.1: "If the request fails due to a missing, invalid, or
    mismatching redirection URI, or if the client identifier is missing or invalid, the
    authorization server SHOULD inform the resource owner of the error and MUST NOT automatically
    redirect the user-agent to the invalid redirection URI."
    """

    code = "invalid_request"


class RequestNotSupported(OAuthError):
    code = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    code = "request_uri_not_supported"
