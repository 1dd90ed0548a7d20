"""A real nginx (Debian's) in front of an application, with Quivive as its auth_request gate.

nginx includes the very snippets of ``docs/nginx/`` that the documentation tells people to copy.
A browser is played by httpx: redirects followed by hand, cookies kept across hosts (the session
cookie's Domain covers the application's host, as ``session.cookie_domain`` asks).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from quivive.composition import Services
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from quivive.web.app import create_app
from support.live_server import LiveServer
from support.quivive import running_services
from support.services import require_service

NGINX = "/usr/sbin/nginx"
SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "nginx"
PASSWORD = "correct horse battery staple 42"
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
NGINX_CONF = """
{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream quivive {{ server 127.0.0.1:{quivive_port}; keepalive 8; }}
    upstream app {{ server 127.0.0.1:{app_port}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        server_name app.localhost;
        include {prefix}/quivive-verify.conf;
        location / {{
            include {prefix}/quivive-protect.conf;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_pass http://app;
        }}
    }}
}}
"""
START_TIMEOUT_S = 10.0


# --- the pieces: an upstream that echoes, Quivive, nginx ----------------------------------------


async def echo(request: Request) -> JSONResponse:
    """What the protected application received: its path and the Remote-* headers, raw."""
    remote = {
        name.decode(): value.decode("utf-8")
        for name, value in request.headers.raw
        if name.decode().lower().startswith("remote-")
    }
    return JSONResponse({"path": request.url.path, "query": request.url.query, "remote": remote})


class LateApp:
    """Quivive's app, plugged in once LiveServer's port (hence its public URL) is known."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            raise RuntimeError("Quivive is not plugged in yet")
        await self.app(scope, receive, send)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Nginx:
    prefix: Path
    port: int
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return (self.prefix / "error.log").read_text(errors="replace")


def start_nginx(prefix: Path, quivive_port: int, app_port: int) -> Nginx:
    prefix.mkdir()
    for snippet in ("quivive-verify.conf", "quivive-protect.conf"):
        shutil.copy(SNIPPETS / snippet, prefix / snippet)
    port = free_port()
    config = NGINX_CONF.format(
        user="user root;" if os.geteuid() == 0 else "",
        prefix=prefix,
        port=port,
        quivive_port=quivive_port,
        app_port=app_port,
    )
    (prefix / "nginx.conf").write_text(config)
    command = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            assert process.poll() is None, (prefix / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
    return Nginx(prefix, port, process)


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


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    if not Path(NGINX).exists():
        require_service("nginx", False, f"{NGINX} not found (scripts/install-system-deps.sh)")
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
        nginx = start_nginx(tmp_path / "nginx", quivive_server.port, app_server.port)
        try:
            yield World(
                services,
                quivive_server.url,
                f"http://app.localhost:{nginx.port}",
                Browser(client),
            )
        finally:
            nginx.process.terminate()
            nginx.process.wait(10)


def sign_in(world: World, url: str) -> httpx.Response:
    """Open ``url`` through nginx, sign in on Quivive's page, land back on ``url``."""
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


# --- the scenarios ------------------------------------------------------------------------------


def test_sign_in_then_back_to_the_original_url_with_the_headers(world: World) -> None:
    url = f"{world.app_url}/dossier/42?tab=notes&x=%C3%A9"
    first = world.browser.get(url)
    assert first.status_code == 302
    assert first.headers["location"].startswith(f"{world.quivive_url}/gate/sign-in?rd=")
    response = sign_in(world, url)
    assert response.status_code == 200
    body = response.json()
    assert (body["path"], body["query"]) == ("/dossier/42", "tab=notes&x=%C3%A9")
    assert body["remote"] == {
        "remote-user": "alice",
        "remote-name": "Élise Łukasz",
        "remote-email": "e@h.example",
        "remote-aal": "1",
    }  # no roles: nginx sends no empty Remote-Groups
    session_cookie = [c for c in world.browser.set_cookies if c.startswith("quivive_session=")]
    assert session_cookie
    assert "domain=localhost" in session_cookie[-1].lower()


def test_role_denied_is_a_403_page_saying_why(world: World) -> None:
    sign_in(world, f"{world.app_url}/")
    response = world.browser.get(f"{world.app_url}/admin/users", headers={"accept-language": "fr"})
    assert response.status_code == 403
    assert "Accès refusé" in response.text
    assert "rôle" in response.text
    assert "remote" not in response.text  # the application never answered


def test_step_up_to_the_second_factor_then_back(world: World) -> None:
    services, browser = world.services, world.browser
    sign_in(world, f"{world.app_url}/")
    alice = services.accounts.get("alice")
    pending = services.totp.begin(alice.id, "alice")
    clock = services.clock
    assert services.totp.confirm(
        alice.id, totp.code_at(pending.secret, totp.step_at(clock.now())), "Phone"
    )
    clock.advance(timedelta(seconds=90))  # type: ignore[attr-defined]
    url = f"{world.app_url}/secure/report"
    code_url, page = browser.browse(url)
    assert urlsplit(code_url).path.startswith("/login/second-factor"), code_url
    assert "level=2" in code_url
    code = totp.code_at(pending.secret, totp.step_at(clock.now()))
    fields = dict(httpx.URL(code_url).params)
    final_url, response = browser.form(
        code_url, page.text, urlsplit(code_url).path, code=code, **fields
    )
    assert final_url == url
    assert response.status_code == 200
    assert response.json()["remote"]["remote-aal"] == "2"


def test_sign_out_takes_effect(world: World) -> None:
    sign_in(world, f"{world.app_url}/")
    browser = world.browser
    assert browser.get(f"{world.app_url}/x").status_code == 200
    logout_url, page = browser.browse(f"{world.quivive_url}/logout")
    browser.form(logout_url, page.text, "/logout")
    assert browser.get(f"{world.app_url}/x").status_code == 302


def test_a_stolen_session_cookie_stops_working_after_sign_out(world: World) -> None:
    sign_in(world, f"{world.app_url}/")
    stolen = dict(world.browser.cookies)
    logout_url, page = world.browser.browse(f"{world.quivive_url}/logout")
    world.browser.form(logout_url, page.text, "/logout")
    world.browser.cookies = stolen
    assert world.browser.get(f"{world.app_url}/x").status_code == 302


def test_public_paths_pass_and_forged_identity_headers_are_dropped(world: World) -> None:
    forged = {"remote-user": "admin", "remote-groups": "admin", "x-original-url": "http://x/"}
    response = world.browser.get(f"{world.app_url}/health", headers=forged)
    assert response.status_code == 200
    assert response.json()["remote"] == {}
    # A forged X-Original-URL naming the public path does not open a protected one either.
    forged["x-original-url"] = f"{world.app_url}/health"
    assert world.browser.get(f"{world.app_url}/admin", headers=forged).status_code == 302


def test_unknown_hosts_behind_the_proxy_are_denied(world: World) -> None:
    port = urlsplit(world.app_url).port
    response = world.browser.get(f"http://other.localhost:{port}/")
    assert response.status_code == 403


@pytest.mark.parametrize(
    "rd",
    [
        "http://evil.example/",
        "//evil.example/",
        "http://app.localhost@evil.example/",
        "http://evil.example\\@app.localhost/",
        "http://app.localhost.evil.example/",
        "javascript:alert(document.cookie)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "http://xn--pp-5cd.localhost/",
    ],
)
def test_open_redirects_through_rd_are_refused(world: World, rd: str) -> None:
    sign_in(world, f"{world.app_url}/")
    response = world.browser.get(f"{world.quivive_url}/gate/sign-in", params={"rd": rd})
    assert response.status_code == 403
    assert "location" not in response.headers


def test_the_login_page_does_not_redirect_off_site(world: World) -> None:
    browser = world.browser
    login_url, page = browser.browse(f"{world.quivive_url}/login")
    final_url, _ = browser.form(
        login_url,
        page.text,
        "/login",
        username="alice",
        password=PASSWORD,
        next="http://evil.example/",
    )
    assert urlsplit(final_url).hostname == "localhost"
