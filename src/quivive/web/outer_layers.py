"""Raw ASGI layers put outside every middleware, FastAPI's own included.

``add_middleware`` would leave a layer inside FastAPI's error, telemetry and body-limit layers,
which cost as much as the work of a fast path (the gate's ``/api/verify``, the token endpoint's
client credentials grant, the discovery documents). An exception raised in an outer layer still
reaches uvicorn, which logs it and answers 500.

``RouteJson`` sends, from such a layer, a JSON answer exactly as a route's would leave the stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from starlette.applications import Starlette
from starlette.types import ASGIApp, Scope, Send

from quivive.web.request_context import REQUEST_ID_HEADER, choose_request_id
from quivive.web.security_headers import security_headers

Layer = Callable[[ASGIApp], ASGIApp]
Headers = list[tuple[bytes, bytes]]
REQUEST_ID = REQUEST_ID_HEADER.encode()


def add_outer_layer(app: Starlette, layer: Layer) -> None:
    """Wrap ``layer`` around the stack ``app`` builds: each call goes outside the earlier ones."""
    build_stack = app.build_middleware_stack

    def build() -> ASGIApp:
        return layer(build_stack())

    app.build_middleware_stack = build  # type: ignore[method-assign]


class RouteJson:
    """A JSON answer with the headers, in the order, that a route's ``Response(...,
    headers=route_headers, media_type="application/json")`` leaves the stack with: the route's
    own, the content length and type Starlette adds, then the security headers and the request
    id the middleware append."""

    def __init__(self, route_headers: Mapping[str, str], *, https: bool) -> None:
        self.before_length = encoded(route_headers.items())
        self.after_length: Headers = [
            (b"content-type", b"application/json"),
            *security_headers(https=https),
        ]

    async def send(self, send: Send, payload: bytes, given_request_id: str) -> None:
        """Send ``payload``, a 200, under the proxy's request id if it looks like one."""
        headers = [
            *self.before_length,
            (b"content-length", str(len(payload)).encode()),
            *self.after_length,
            (REQUEST_ID, choose_request_id(given_request_id).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def first_headers(scope: Scope, names: tuple[bytes, ...]) -> dict[bytes, str]:
    """The first value of each header named (as Starlette's ``Headers.get`` reads it)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in names and name not in found:
            found[name] = value.decode("latin-1")
    return found


def encoded(headers: Iterable[tuple[str, str]]) -> Headers:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
