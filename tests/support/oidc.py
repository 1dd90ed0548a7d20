"""An OpenID Connect provider for tests: Quivive on a real socket, a signed-in browser, a client.

``running_provider`` serves Quivive with LiveServer so that a real relying-party library (Authlib's
httpx client) talks to it over HTTP; the public URL, hence the issuer, is the live server's URL.
``Receiver`` is a local HTTP endpoint that records back-channel logout requests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.clients import Client
from quivive.services.accounts import NewAccount
from quivive.services.oidc_clients import NewClient
from quivive.web.app import create_app
from support.live_server import LiveServer
from support.quivive import RecordingAudit, running_services

PASSWORD = "correct horse battery staple 42"
REDIRECT_URI = "http://localhost:9/callback"
POST_LOGOUT_URI = "http://localhost:9/signed-out"
RPPS = "10001234567"


class _Deferred:
    """An ASGI app set after the server started: the issuer must name the server's port."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            raise RuntimeError("the app is not set yet")
        await self.app(scope, receive, send)


@dataclass
class Provider:
    services: Services
    url: str
    clock: FrozenClock
    audit: RecordingAudit

    def metadata(self) -> dict[str, Any]:
        response = httpx.get(self.url + "/.well-known/openid-configuration")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def add_user(self, username: str = "alice", **fields: Any) -> None:
        account = NewAccount(
            username=username,
            password=PASSWORD,
            display_name=fields.pop("display_name", "Alice Martin"),
            email=fields.pop("email", f"{username}@hopital.example"),
            roles=fields.pop("roles", ("infirmier",)),
            professional_id=fields.pop("professional_id", RPPS),
        )
        self.services.accounts.create(account, actor="test")

    def add_client(self, name: str = "dpi", **fields: Any) -> tuple[Client, str | None]:
        values: dict[str, Any] = {
            "redirect_uris": (REDIRECT_URI,),
            "post_logout_redirect_uris": (POST_LOGOUT_URI,),
            "first_party": True,
            "scopes": ("openid", "profile", "email", "offline_access", "healthcare"),
            **fields,
        }
        return self.services.oidc.clients.register(NewClient(name=name, **values), actor="test")

    def browser(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=10)


@contextmanager
def running_provider(
    data_dir: Path,
    backend: str = "sqlite",
    *,
    clock: FrozenClock | None = None,
    settings: Mapping[str, str] | None = None,
) -> Iterator[Provider]:
    clock = clock or FrozenClock()
    audit = RecordingAudit()
    deferred = _Deferred()
    with LiveServer(deferred, lifespan="off") as server:
        overrides = {"public_url": server.url, **(settings or {})}
        with running_services(
            data_dir, backend, clock=clock, audit=audit, settings=overrides
        ) as services:
            deferred.app = create_app(services)
            yield Provider(services, server.url, clock, audit)


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match[1]


def log_in(browser: Any, username: str = "alice", next_url: str = "/account") -> None:
    """Sign in with the password form; ``browser`` is an httpx (or TestClient) client."""
    page = browser.get("/login")
    data = {
        "csrf_token": csrf_token(page.text),
        "username": username,
        "password": PASSWORD,
        "next": next_url,
    }
    response = browser.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text


def follow(browser: Any, url: str, *, until: str = REDIRECT_URI) -> Any:
    """Follow redirects inside the provider until one leaves for ``until`` (the client)."""
    response = browser.get(url, follow_redirects=False)
    for _ in range(10):
        location = response.headers.get("location")
        if response.status_code not in (302, 303, 307) or location is None:
            return response
        target = urljoin(str(response.url), location)
        if target.startswith(until):
            return response
        response = browser.get(target, follow_redirects=False)
    raise AssertionError("too many redirects")


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


@dataclass
class Receiver:
    """Records POSTs; answers ``statuses`` in turn (then 200)."""

    statuses: list[int] = field(default_factory=list)
    received: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def backchannel(request: Request) -> Response:
            form = await request.form()
            self.received.append({key: str(value) for key, value in form.items()})
            status = self.statuses.pop(0) if self.statuses else 200
            return Response(status_code=status)

        return Starlette(routes=[Route("/backchannel", backchannel, methods=["POST"])])
