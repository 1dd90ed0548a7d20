"""``/metrics`` (Prometheus text format) and the request-latency middleware.

Access: with ``metrics.localhost_only`` only a socket peer of 127.0.0.1 or ::1 is served; the
socket peer, never X-Forwarded-For, which any client can write. With ``metrics.token`` a
``Authorization: Bearer`` header must carry it. Both apply when both are set.
"""

from __future__ import annotations

import hmac
import time

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quivive.config import MetricsSettings
from quivive.services.metrics import Metrics

METRICS_PATH = "/metrics"
LOOPBACK_PEERS = frozenset({"127.0.0.1", "::1"})
# Other method names (a client may send any, h11 passes them on) share one label: a series per
# made-up name would grow /metrics and the registry without bound.
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}
)


class RequestMetricsMiddleware:
    """Observes each HTTP request's latency by method and status code."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the response started is what the client sees

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in HTTP_METHODS else "OTHER"
            self.metrics.child(self.metrics.requests, method, str(status)).observe(elapsed)


def metrics_response(request: Request, metrics: Metrics, settings: MetricsSettings) -> Response:
    peer = request.client.host if request.client else None
    if settings.localhost_only and peer not in LOOPBACK_PEERS:
        return PlainTextResponse("forbidden\n", status_code=403)
    if settings.token and not _bearer_matches(request, settings.token):
        return PlainTextResponse(
            "unauthorized\n", status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())
