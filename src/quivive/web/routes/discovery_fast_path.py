"""GET /.well-known/openid-configuration and GET /jwks.json, answered before the middleware stack.

Relying parties and resource servers fetch these documents again and again (every verifier of
access tokens polls the keys), and their bytes depend on nothing in the request; the stack
(FastAPI's layers, routing, the request context) cost more than twice the sending of them.
``DocumentFastPath`` sends the bytes and headers the route would (``RouteJson``), for GET and
the HEAD Starlette adds to a GET route. Anything else (another method, a query string, the key
ring due for a reload from the database) goes on to the route, so the keys served are never
older than the route's: a rotation on this node is seen at once, one on another node within
``RELOAD_INTERVAL_S``, as on the route.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from quivive.composition import Services
from quivive.protocols.oidc.discovery import DISCOVERY_PATH, JWKS_PATH
from quivive.services.oidc_keys import KeyService
from quivive.web.outer_layers import REQUEST_ID, RouteJson, add_outer_layer, first_headers
from quivive.web.routes.oidc import (
    JWKS_HEADERS,
    METADATA_HEADERS,
    KeysDocument,
    metadata_document,
)

_METHODS = frozenset({"GET", "HEAD"})  # Starlette's Route answers HEAD wherever it answers GET


@dataclass(frozen=True)
class Document:
    current: Callable[[], bytes | None]  # the bytes to send, or None: the route answers
    answer: RouteJson


def install_fast_path(app: Starlette, services: Services) -> None:
    https = services.settings.https
    metadata = metadata_document(services.oidc.config.issuer)
    documents = {
        DISCOVERY_PATH: Document(lambda: metadata, RouteJson(METADATA_HEADERS, https=https)),
        JWKS_PATH: Document(FreshKeys(services.oidc.keys), RouteJson(JWKS_HEADERS, https=https)),
    }
    add_outer_layer(app, lambda inner: DocumentFastPath(inner, documents=documents))


class DocumentFastPath:
    def __init__(self, app: ASGIApp, *, documents: Mapping[str, Document]) -> None:
        self.app = app
        self.documents = documents

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        document = self.documents.get(scope["path"]) if _candidate(scope) else None
        payload = document.current() if document is not None else None
        if document is None or payload is None:
            await self.app(scope, receive, send)
            return
        request_id = first_headers(scope, (REQUEST_ID,)).get(REQUEST_ID, "")
        await document.answer.send(send, payload, request_id)


class FreshKeys:
    """The JWK Set's bytes while the key ring needs no reload; None when one is due: the route
    reloads the ring, and the next request finds it fresh."""

    def __init__(self, keys: KeyService) -> None:
        self.keys = keys
        self.document = KeysDocument()

    def __call__(self) -> bytes | None:
        ring = self.keys.fresh_ring()
        return None if ring is None else self.document.of(ring)


def _candidate(scope: Scope) -> bool:
    # The routes ignore a query string; leaving it to them keeps this layer's promise simple.
    return scope["type"] == "http" and scope["method"] in _METHODS and not scope.get("query_string")
