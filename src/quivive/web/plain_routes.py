"""``plain_post``: a form post served as a plain Starlette route, for the sign-in steps.

A FastAPI route runs each request through its dependency solving and two exit stacks before the
handler, and the handlers of the sign-in forms take the ``Request`` alone: the machinery has
nothing to inject. Measured under the password benchmark's load (trivial Argon2 costs, 16
connections), skipping it takes 0.1-0.2 ms off the event loop's ~0.7 ms per sign-in. Every
sign-in pays it, once for the password and once for a second factor, so those posts are plain.

Everything else about them stays: the same router, path matching, exception handlers (a
``BadForm`` or ``CsrfRejected`` is still a page in the user's language) and middleware. The one
thing FastAPI gave that a plain route lacks is the app-wide NUL check (``reject_nul_bytes``, a
FastAPI dependency): it is called here first, so no route escapes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quivive.web.input_guard import reject_nul_bytes

Endpoint = Callable[[Request], Awaitable[Response]]


def plain_post(router: APIRouter, path: str) -> Callable[[Endpoint], Endpoint]:
    """Register the decorated handler for POST ``path`` on ``router`` as a Starlette route."""

    def register(endpoint: Endpoint) -> Endpoint:
        async def checked(request: Request) -> Response:
            await reject_nul_bytes(request)
            return await endpoint(request)

        router.add_route(
            path, checked, methods=["POST"], name=endpoint.__name__, include_in_schema=False
        )
        return endpoint

    return register
