"""``PlainRoutes``: form posts served as plain Starlette routes at the head of the app's routes.

Every sign-in makes these posts, once for the password and once for a second factor, and
FastAPI's way of serving them costs more than the rest of their work on the event loop:

- routing: an included router is scanned twice (to match, then again to handle), with FastAPI's
  bookkeeping for each route in it; measured on this app before this module, finding POST /login
  took 37 µs and the TOTP step 103 µs, against 1-3 µs for a plain route tried first;
- the route itself: dependency solving and two exit stacks around a handler that takes the
  ``Request`` alone, with nothing to inject: 0.1-0.2 ms of the event loop per post under the
  password benchmark's load (trivial Argon2 costs, 16 connections).

Everything else about them stays: path matching, exception handlers (a ``BadForm`` or
``CsrfRejected`` is still a page in the user's language) and middleware. The one thing FastAPI gave
that a plain route lacks is the app-wide NUL check (``reject_nul_bytes``, a FastAPI dependency):
it is called here first, so no route escapes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quivive.web.input_guard import reject_nul_bytes

Endpoint = Callable[[Request], Awaitable[Response]]


class PlainRoutes:
    """One module's plain routes, which ``install`` puts on the app before any included router."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def post(self, path: str) -> Callable[[Endpoint], Endpoint]:
        """Serve the decorated handler for POST ``path``."""

        def register(endpoint: Endpoint) -> Endpoint:
            async def checked(request: Request) -> Response:
                await reject_nul_bytes(request)
                return await endpoint(request)

            route = Route(
                path, checked, methods=["POST"], name=endpoint.__name__, include_in_schema=False
            )
            self._routes.append(route)
            return endpoint

        return register

    def install(self, app: Starlette) -> None:
        """Add the routes to ``app``: call it before ``include_router``, so they are tried first."""
        app.router.routes.extend(self._routes)
