"""POST /token with the client credentials grant, answered before the middleware stack.

A back end asking for a token per job calls this far more often than people sign in, and the
stack (FastAPI's layers, routing, the request context, form parsing, a thread for the service)
cost several times the token's own work. ``TokenFastPath`` answers the ordinary request, an
authenticated client whose record and signing keys are in memory
(``TokenService.quick_client_credentials``), with the bytes and headers the route would send.
Anything else (another grant, a malformed or oversize body, a query string, a wrong secret, a
client not cached on this node, a key reload due) goes on to the route, with the body replayed,
so every OAuth error and every audit of a failure stays the route's.

The issuance is audited, durably, before the token leaves, as on the route: through
``Services.audit`` and its decorators, the events of concurrent requests appended in one
transaction, from one trip to the thread pool (``AsyncGroupCommit``, ``record_together``). As on
the route, an append that fails is logged (with the number of records and their clients) and the
token still goes out: the audit trail must never become the way to stop every service at once.
"""

from __future__ import annotations

import logging
from collections import deque

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quivive.composition import Services
from quivive.domain.audit import AuditEvent
from quivive.protocols.oidc.discovery import TOKEN_PATH
from quivive.protocols.oidc.errors import OAuthError
from quivive.protocols.oidc.params import MAX_BODY_BYTES, parse_form
from quivive.services.audit import record_together
from quivive.services.group_commit import AsyncGroupCommit
from quivive.services.oidc_tokens import Issued
from quivive.web.outer_layers import REQUEST_ID, RouteJson, add_outer_layer, first_headers
from quivive.web.routes.oidc import CORS, FORM_TYPE, NO_STORE, compact_json

log = logging.getLogger(__name__)

_READ = (b"content-type", b"authorization", REQUEST_ID)  # the headers the fast path reads


def install_fast_path(app: Starlette, services: Services) -> None:
    add_outer_layer(app, lambda inner: TokenFastPath(inner, services=services))


class TokenFastPath:
    def __init__(self, app: ASGIApp, *, services: Services) -> None:
        self.app = app
        self.tokens = services.oidc.tokens
        audit = services.audit
        self.audit = AsyncGroupCommit[AuditEvent](lambda events: record_together(audit, events))
        self.answer = RouteJson({**NO_STORE, **CORS}, https=services.settings.https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _candidate(scope):  # every other request, /api/verify's among them: at once
            await self.app(scope, receive, send)
            return
        headers = first_headers(scope, _READ)
        content_type = headers.get(b"content-type", "").split(";")[0].strip().lower()
        if content_type != FORM_TYPE:
            await self.app(scope, receive, send)
            return
        received, body = await _read_body(receive)
        issued = self._issue(body, headers.get(b"authorization")) if body is not None else None
        if issued is None:
            await self.app(scope, _replay(received, receive), send)
            return
        await self.audit.submit(issued.event)
        await self.answer.send(send, compact_json(issued.body), headers.get(REQUEST_ID, ""))

    def _issue(self, body: bytes, authorization: str | None) -> Issued | None:
        try:
            form = parse_form(body)
            return self.tokens.quick_client_credentials(form, authorization)
        except OAuthError:
            return None
        except Exception:  # nothing is issued yet: the route does it all again, and answers
            log.exception("token fast path failed; the route answers")
            return None


def _candidate(scope: Scope) -> bool:
    # RFC 6749 §3.2: the token endpoint takes its parameters from the body; one in the query is
    # the route's invalid_request.
    return (
        scope["type"] == "http"
        and scope["path"] == TOKEN_PATH
        and scope["method"] == "POST"
        and not scope.get("query_string")
    )


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The messages received, and the body; None for the body when it is over the route's
    limit or the client went away (the route answers those)."""
    received: list[Message] = []
    size = 0
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return received, None
        size += len(message.get("body", b""))
        if size > MAX_BODY_BYTES:
            return received, None
        if not message.get("more_body", False):
            return received, b"".join(part.get("body", b"") for part in received)


def _replay(received: list[Message], receive: Receive) -> Receive:
    """``receive`` as the route must see it: the messages already read, then the rest."""
    pending = deque(received)

    async def replay() -> Message:
        return pending.popleft() if pending else await receive()

    return replay
