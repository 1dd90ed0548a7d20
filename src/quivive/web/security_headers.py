"""Security headers on every response (OWASP ASVS V3 / V14)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# form-action is left out on purpose: Chromium applies it to every redirect that follows a form
# post, which would break returning to a relying party after sign-in.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# No Referer to other sites (set-up links and authorization codes sit in URLs), but not
# "no-referrer": under it browsers send "Origin: null" on every form post (Fetch standard,
# "append a request Origin header"), which the CSRF check must refuse, so nobody could sign in.
REFERRER_POLICY = "same-origin"
# Two years, the HSTS preload list minimum.
HSTS_VALUE = "max-age=63072000; includeSubDomains"


def security_headers(*, https: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", REFERRER_POLICY.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]
    if https:
        headers.append((b"strict-transport-security", HSTS_VALUE.encode()))
    return headers


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.headers = security_headers(https=https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
