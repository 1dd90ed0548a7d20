"""Reference apps that Quivive's endpoints are measured against (served by ``ServerProcess``).

Each is a factory ``() -> ASGI app``, so that uvicorn builds it in the server process.
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def bare_app() -> Starlette:
    """The floor: a Starlette endpoint that does nothing but answer 200."""
    return Starlette(routes=[Route("/", _ok)])


async def _form(request: Request) -> PlainTextResponse:
    form = await request.form()
    if not form:
        return PlainTextResponse("empty form", status_code=400)
    return PlainTextResponse(f"{len(form)} fields")


def form_app() -> Starlette:
    """A POST endpoint that parses a urlencoded form: the floor for /login or /token.

    It answers 400 to an empty form and 405 to a GET, so a load whose script lost its method, body
    or content type shows up as non-2xx responses.
    """
    return Starlette(routes=[Route("/", _form, methods=["POST"])])
