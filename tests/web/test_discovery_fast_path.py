"""The discovery documents' fast path: what it answers, it answers byte for byte as the route
would; the keys it serves are never older than the route's; everything else reaches the route."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from quivive.clock import FrozenClock
from quivive.composition import Services, build_services
from quivive.protocols.oidc.discovery import DISCOVERY_PATH, JWKS_PATH
from quivive.services.oidc_keys import RELOAD_INTERVAL_S
from quivive.storage.database import upgrade
from quivive.web.app import create_app
from quivive.web.routes import discovery_fast_path
from support.quivive import RecordingAudit, make_settings

BASE_URL = "http://localhost:8080"
PROXY_ID = "proxy-id-12345"


class Reached:
    """Middleware inside the stack: records the paths of the requests that got that far."""

    def __init__(self, app: ASGIApp, *, paths: list[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@dataclass
class Node:
    services: Services
    fast: TestClient  # the app as built
    route: TestClient  # the same app without the fast path
    reached: list[str]  # what reached the stack of ``fast``

    def kids(self) -> set[str]:
        return {key["kid"] for key in self.fast.get(JWKS_PATH).json()["keys"]}


def _node(services: Services, monkeypatch: pytest.MonkeyPatch) -> Node:
    reached: list[str] = []
    app = create_app(services)
    app.add_middleware(Reached, paths=reached)
    with monkeypatch.context() as patch:
        patch.setattr(discovery_fast_path, "install_fast_path", lambda app, services: None)
        route_only = create_app(services)
    return Node(services, TestClient(app, BASE_URL), TestClient(route_only, BASE_URL), reached)


def _services(stack: ExitStack, tmp_path: Path, **overrides: str) -> Services:
    settings = make_settings(tmp_path, **overrides)
    services = build_services(settings, clock=FrozenClock(), audit=RecordingAudit())
    stack.callback(services.close)
    upgrade(services.engine)
    return services


@pytest.fixture(params=["http", "https"])
def node(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Node]:
    public_url = "https://idp.example" if request.param == "https" else BASE_URL
    with ExitStack() as stack:
        yield _node(_services(stack, tmp_path, public_url=public_url), monkeypatch)


@pytest.fixture
def two_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Node, Node]]:
    """Two Quivive instances on one database."""
    with ExitStack() as stack:
        first, second = (_node(_services(stack, tmp_path), monkeypatch) for _ in range(2))
        yield first, second


def _answer(response: httpx2.Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return response.status_code, response.headers.raw, response.content


def _warm(node: Node) -> None:
    """The route loads the key ring, which the fast path reads but never loads."""
    assert node.route.get(JWKS_PATH).status_code == 200


# --- what the fast path answers --------------------------------------------------------------


@pytest.mark.parametrize("path", [DISCOVERY_PATH, JWKS_PATH])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_each_document_is_sent_as_the_route_sends_it(node: Node, path: str, method: str) -> None:
    _warm(node)
    headers = {"x-request-id": PROXY_ID}

    fast = node.fast.request(method, path, headers=headers)
    by_route = node.route.request(method, path, headers=headers)

    assert node.reached == []
    assert _answer(fast) == _answer(by_route)
    assert fast.status_code == 200
    assert fast.headers["access-control-allow-origin"] == "*"
    assert fast.headers["x-request-id"] == PROXY_ID
    https = node.services.settings.https
    assert ("strict-transport-security" in fast.headers) is https


@pytest.mark.parametrize("path", [DISCOVERY_PATH, JWKS_PATH])
def test_a_request_without_a_usable_id_gets_a_new_one(node: Node, path: str) -> None:
    _warm(node)
    headers = {"x-request-id": "no"}  # too short to be a proxy's

    fast = node.fast.get(path, headers=headers)
    by_route = node.route.get(path, headers=headers)

    assert node.reached == []
    assert fast.headers["x-request-id"] not in ("no", by_route.headers["x-request-id"])
    assert len(fast.headers["x-request-id"]) == 16
    without_id = [(n, v) for n, v in fast.headers.raw if n != b"x-request-id"]
    assert without_id == [(n, v) for n, v in by_route.headers.raw if n != b"x-request-id"]
    assert fast.content == by_route.content


def test_each_fast_answer_is_counted_in_the_metrics(node: Node) -> None:
    _warm(node)
    for path in (DISCOVERY_PATH, JWKS_PATH, JWKS_PATH):
        node.fast.get(path)

    metrics = node.services.metrics.render().decode()

    assert node.reached == []
    assert 'quivive_http_request_duration_seconds_count{method="GET",status="200"} 4.0' in metrics


# --- the keys it serves ----------------------------------------------------------------------


def test_a_rotation_is_served_at_once(node: Node) -> None:
    _warm(node)
    before = node.kids()

    created = node.services.oidc.keys.rotate()

    after = node.kids()
    assert {key.kid for key in created} <= after
    assert before <= after  # retired keys verify until the tokens they signed expire
    assert after == {key["kid"] for key in node.route.get(JWKS_PATH).json()["keys"]}
    assert node.reached == []


def test_a_rotation_on_another_node_is_served_when_the_route_would_serve_it(
    two_nodes: tuple[Node, Node],
) -> None:
    first, second = two_nodes
    _warm(first)
    before = first.kids()

    created = {key.kid for key in second.services.oidc.keys.rotate()}

    # Until the ring's reload is due, the route too serves the keys this node last read.
    assert first.kids() == before
    assert {key["kid"] for key in first.route.get(JWKS_PATH).json()["keys"]} == before
    assert first.reached == []
    first.services.oidc.keys._loaded_at -= RELOAD_INTERVAL_S  # white box: a reload is due
    assert created <= first.kids()
    assert first.reached == [JWKS_PATH]  # the route reloaded the ring...
    assert created <= first.kids()
    assert first.reached == [JWKS_PATH]  # ...which the fast path serves from then on


def test_keys_not_loaded_yet_are_the_routes_to_load(node: Node) -> None:
    response = node.fast.get(JWKS_PATH)

    assert response.status_code == 200
    assert response.json()["keys"]
    assert node.reached == [JWKS_PATH]


# --- what it leaves to the route -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "params", "status"),
    [
        ("GET", DISCOVERY_PATH, {"x": "1"}, 200),
        ("GET", JWKS_PATH, {"x": "1"}, 200),
        ("POST", DISCOVERY_PATH, {}, 405),
        ("POST", JWKS_PATH, {}, 405),
        ("OPTIONS", JWKS_PATH, {}, 405),
        ("PUT", DISCOVERY_PATH, {}, 405),
        ("GET", DISCOVERY_PATH + "/", {}, 307),  # redirect_slashes
        ("GET", "/.well-known/openid-configuration.json", {}, 404),
    ],
)
def test_unusual_requests_are_answered_by_the_route(
    node: Node, method: str, path: str, params: dict[str, Any], status: int
) -> None:
    _warm(node)

    fast = node.fast.request(method, path, params=params, follow_redirects=False)
    by_route = node.route.request(method, path, params=params, follow_redirects=False)

    assert node.reached == [path]
    assert fast.status_code == by_route.status_code == status
    assert fast.content == by_route.content
