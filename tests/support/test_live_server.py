import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from support.live_server import LiveServer


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hello {request.url.hostname}")


def make_app() -> Starlette:
    return Starlette(routes=[Route("/", hello)])


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True


def test_serves_the_app_on_localhost() -> None:
    with LiveServer(make_app()) as server:
        response = httpx.get(server.url + "/")

    assert server.port == 0
    assert response.status_code == 200
    assert response.text == "hello localhost"


def test_url_names_localhost_and_the_bound_port() -> None:
    with LiveServer(make_app()) as server:
        assert server.port > 0
        assert server.url == f"http://localhost:{server.port}"


def test_stops_listening_on_exit() -> None:
    with LiveServer(make_app()) as server:
        port = server.port

    assert refuses_connections(port)


def test_two_servers_get_different_ports() -> None:
    with LiveServer(make_app()) as first, LiveServer(make_app()) as second:
        assert first.port != second.port
        assert httpx.get(second.url + "/").status_code == 200


def test_runs_the_lifespan() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    with LiveServer(Starlette(lifespan=lifespan)):
        assert events == ["startup"]

    assert events == ["startup", "shutdown"]


def test_failed_startup_raises_and_frees_the_port() -> None:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("database unreachable")
        yield  # pragma: no cover

    server = LiveServer(Starlette(lifespan=lifespan), lifespan="on")

    with pytest.raises(RuntimeError, match="exited during start-up"):
        server.start()
    assert server.port == 0


def test_url_before_start_raises() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = LiveServer(make_app()).url
