"""Reference apps that Quivive's endpoints are measured against (served by ``ServerProcess``).

Each is a factory ``() -> ASGI app``, so that uvicorn builds it in the server process.
"""

import asyncio
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import argon2
from argon2.exceptions import VerificationError
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


def argon2_verify_app() -> Starlette:
    """The ceiling for POST /login: one Argon2id verify per request, nothing else.

    Reads ``BENCH_ARGON2_HASH`` (an encoded hash, whose parameters are those verified with),
    ``BENCH_ARGON2_PASSWORD`` and ``BENCH_VERIFY_WORKERS``: the verify runs in a pool of that many
    threads, as Quivive's hasher does. It answers 401 when the password does not match, so a wrong
    set-up shows up as non-2xx responses.
    """
    encoded = os.environ["BENCH_ARGON2_HASH"]
    password = os.environ["BENCH_ARGON2_PASSWORD"]
    pool = ThreadPoolExecutor(int(os.environ["BENCH_VERIFY_WORKERS"]), thread_name_prefix="argon2")
    hasher = argon2.PasswordHasher()

    def matches() -> bool:
        try:
            return hasher.verify(encoded, password)
        except VerificationError:
            return False

    async def login(request: Request) -> PlainTextResponse:
        await request.body()
        if await asyncio.get_running_loop().run_in_executor(pool, matches):
            return PlainTextResponse("ok")
        return PlainTextResponse("wrong password", status_code=401)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        pool.shutdown(wait=True)

    return Starlette(routes=[Route("/login", login, methods=["POST"])], lifespan=lifespan)
