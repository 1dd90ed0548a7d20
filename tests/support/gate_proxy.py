"""A protected application behind a real reverse proxy, and a browser played by httpx.

Shared by the nginx, Traefik and Caddy gate tests: an upstream that echoes the Remote-* headers it
receives, Quivive on a LiveServer whose public URL is its own address, and ``Browser``, which
follows redirects by hand and keeps cookies across hosts (as a ``session.cookie_domain`` cookie
would be).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from quivive.composition import Services
from quivive.services.accounts import NewAccount
from quivive.web.app import create_app
from support.live_server import LateApp, LiveServer
from support.quivive import running_services

PASSWORD = "correct horse battery staple 42"
# The application is app.localhost behind the proxy; Quivive is localhost (its LiveServer URL).
RULES = """
[[gate.rules]]
host = "app.localhost"
bypass = ["/health"]

[[gate.rules]]
host = "app.localhost"
path_prefix = "/admin"
roles = ["admin"]

[[gate.rules]]
host = "app.localhost"
path_prefix = "/secure"
min_aal = 2
"""
START_TIMEOUT_S = 10.0
# (prefix dir, Quivive's port, the application's port) -> the proxy's port, while it runs.
ProxyStarter = Callable[[Path, int, int], AbstractContextManager[int]]


async def echo(request: Request) -> JSONResponse:
    """What the protected application received: its path and the Remote-* headers, raw."""
    remote = {
        name.decode(): value.decode("utf-8")
        for name, value in request.headers.raw
        if name.decode().lower().startswith("remote-")
    }
    return JSONResponse({"path": request.url.path, "query": request.url.query, "remote": remote})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, alive: Callable[[], bool], log: Callable[[], str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if not alive():
                raise RuntimeError(f"the proxy exited:\n{log()}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"no proxy on port {port} after {START_TIMEOUT_S} s") from None
            time.sleep(0.05)


@dataclass
class World:
    services: Services
    quivive_url: str
    app_url: str
    browser: Browser


@dataclass
class Browser:
    """httpx, every host sent to 127.0.0.1 with its Host header; cookies shared by every host."""

    client: httpx.Client
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)

    def request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        parts = urlsplit(url)
        target = f"http://127.0.0.1:{parts.port}{parts.path or '/'}"
        if parts.query:
            target += f"?{parts.query}"
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[call-overload]
        headers["host"] = parts.netloc
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.client.request(method, target, headers=headers, **kwargs)  # type: ignore[arg-type]
        for header in response.headers.get_list("set-cookie"):
            self.set_cookies.append(header)
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower() or not value or value == '""':
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    def get(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def browse(self, url: str, method: str = "GET", **kwargs: object) -> tuple[str, httpx.Response]:
        """Follow redirects by hand; the final URL and response."""
        response = self.request(method, url, **kwargs)
        for _ in range(10):
            if response.status_code not in (301, 302, 303, 307, 308):
                return url, response
            url = urljoin(url, response.headers["location"])
            response = self.get(url)
        raise AssertionError(f"redirect loop ending at {url}")

    def form(
        self, page_url: str, page: str, action: str, **fields: str
    ) -> tuple[str, httpx.Response]:
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, page
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(page_url))
        data = {"csrf_token": token[1], **fields}
        return self.browse(urljoin(page_url, action), "POST", data=data, headers={"origin": origin})


@contextmanager
def protected_world(tmp_path: Path, start_proxy: ProxyStarter) -> Iterator[World]:
    """Quivive, the echoing application, and the proxy in front of the application."""
    config = tmp_path / "quivive.toml"
    config.write_text(RULES)
    late = LateApp()
    upstream = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])
    with (
        LiveServer(upstream) as app_server,
        LiveServer(late, lifespan="off") as quivive_server,
        running_services(
            tmp_path / "data",
            settings={
                "public_url": quivive_server.url,
                "config": str(config),
                "session_cookie_domain": "localhost",
                "language": "en",
            },
        ) as services,
        httpx.Client(timeout=10.0, trust_env=False) as client,
    ):
        late.app = create_app(services)
        services.accounts.create(
            NewAccount("alice", PASSWORD, display_name="Élise Łukasz", email="e@h.example"),
            actor="test",
        )
        with start_proxy(tmp_path / "proxy", quivive_server.port, app_server.port) as port:
            app_url = f"http://app.localhost:{port}"
            yield World(services, quivive_server.url, app_url, Browser(client))


def sign_in(world: World, url: str) -> httpx.Response:
    """Open ``url`` through the proxy, sign in on Quivive's page, land back on ``url``."""
    browser = world.browser
    login_url, page = browser.browse(url)
    assert urlsplit(login_url).path == "/login", login_url
    final_url, response = browser.form(
        login_url,
        page.text,
        "/login",
        username="alice",
        password=PASSWORD,
        next=dict(httpx.URL(login_url).params)["next"],
    )
    assert final_url == url
    return response
