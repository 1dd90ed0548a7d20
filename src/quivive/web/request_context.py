"""Per-request facts every route needs: language, client address and a request identifier."""

from __future__ import annotations

import re
import secrets

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quivive.web.client_address import client_address
from quivive.web.cookies import cookie_value
from quivive.web.i18n import LANGUAGE_COOKIE, negotiate_language

REQUEST_ID_HEADER = "x-request-id"
# A proxy's request id is kept for correlation only when it looks like one.
_REQUEST_ID_SHAPE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, default_language: str, trusted_proxies: int) -> None:
        self.app = app
        self.default_language = default_language
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        state["language"] = negotiate_language(
            headers.get("accept-language"), _cookie(headers, LANGUAGE_COOKIE), self.default_language
        )
        peer = scope.get("client")
        state["client_address"] = client_address(
            peer[0] if peer else None, headers.get("x-forwarded-for"), self.trusted_proxies
        )
        request_id = choose_request_id(headers.get(REQUEST_ID_HEADER, ""))
        state["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)


def choose_request_id(given: str) -> str:
    """The proxy's request id if it looks like one, else a new one."""
    return given if _REQUEST_ID_SHAPE.match(given) else secrets.token_hex(8)


def _cookie(headers: Headers, name: str) -> str | None:
    # Read as the routes read cookies (Starlette's parser), without parsing every other cookie:
    # http.cookies.SimpleCookie cost a request ~50 us here, and gave up on cookies it disliked.
    raw = headers.get("cookie")
    return cookie_value(raw, name) if raw else None
