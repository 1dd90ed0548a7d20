"""CSRF protection for every state-changing form: the signed double-submit cookie (OWASP).

The browser holds a random nonce in an HttpOnly cookie; each form carries HMAC(key, nonce). An
attacker's page can make the browser send the cookie but can neither read it nor compute the HMAC.
The Origin header, when present, must also be our own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from quivive.errors import QuiviveError
from quivive.web.cookies import CookiePolicy

CSRF_COOKIE = "quivive_csrf"
CSRF_FIELD = "csrf_token"
NONCE_BYTES = 32


class CsrfRejected(QuiviveError):
    code = "csrf_rejected"


class CsrfProtection:
    def __init__(self, key: bytes, cookies: CookiePolicy, public_origin: str) -> None:
        self._key = key
        self._cookies = cookies
        self._origin = public_origin

    def token_for(self, request: Request, response_cookies: dict[str, str]) -> str:
        """The form token for this browser, creating its nonce if it has none yet."""
        nonce = request.cookies.get(self._cookies.name(CSRF_COOKIE))
        if not nonce or len(nonce) > 128:
            nonce = secrets.token_urlsafe(NONCE_BYTES)
            response_cookies[CSRF_COOKIE] = nonce
        return self._sign(nonce)

    def apply(self, response: Response, response_cookies: dict[str, str]) -> None:
        for name, value in response_cookies.items():
            self._cookies.set(response, name, value)

    def verify(self, request: Request, submitted: str | None) -> None:
        origin = request.headers.get("origin")
        if origin is not None and origin != self._origin:
            raise CsrfRejected("cross-origin form post")
        nonce = request.cookies.get(self._cookies.name(CSRF_COOKIE))
        if not nonce or not submitted:
            raise CsrfRejected("missing CSRF token")
        if not hmac.compare_digest(self._sign(nonce), submitted):
            raise CsrfRejected("bad CSRF token")

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()
