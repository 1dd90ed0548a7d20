"""POST /token's fast path for the client credentials grant: what it answers, it answers as the
route would; everything else (wrong secret, removed client, rotated secret on another node, grant
taken away, oversize or malformed request, another grant) reaches the route unchanged."""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from quivive.clock import FrozenClock
from quivive.composition import Services, build_services
from quivive.domain.clients import Client
from quivive.protocols.oidc.params import MAX_BODY_BYTES
from quivive.services.oidc_clients import CACHE_TTL_S, ClientChanges, NewClient
from quivive.services.oidc_tokens import Issued
from quivive.storage.database import upgrade
from quivive.web.app import create_app
from quivive.web.routes.token_fast_path import TokenFastPath
from support.quivive import RecordingAudit, make_settings, postgres_schema, postgres_url

BASE_URL = "http://localhost:8080"
FORM = {"grant_type": "client_credentials"}


class Ticker:
    """A monotonic clock that moves only when told to (the client cache's)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Node:
    """One Quivive instance: its services, a client for its app, the tokens its fast path and
    its route issued."""

    services: Services
    browser: TestClient
    ticker: Ticker
    fast: list[str]
    route_calls: list[int]

    def post(self, secret: str, client: Client, **kwargs: Any) -> Any:
        raw = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
        headers = {"authorization": f"Basic {raw}", **kwargs.pop("headers", {})}
        if "content" not in kwargs:
            kwargs.setdefault("data", FORM)
        return self.browser.post("/token", headers=headers, **kwargs)


@dataclass
class Env:
    first: Node
    second: Node
    client: Client
    secret: str
    audit: RecordingAudit

    def warm(self, node: Node | None = None) -> None:
        """One request through the route, which caches the client on ``node``."""
        node = node or self.first
        calls = len(node.route_calls)
        assert node.post(self.secret, self.client).status_code == 200
        assert len(node.route_calls) == calls + 1


def _node(stack: ExitStack, services: Services) -> Node:
    ticker = Ticker()
    services.oidc.clients._monotonic = ticker  # white box: the cache's clock, as make_gate does
    route_calls: list[int] = []
    route = services.oidc.tokens.token

    def counted(form: Any, authorization: str | None) -> dict[str, Any]:
        route_calls.append(1)
        return route(form, authorization)

    services.oidc.tokens.token = counted  # type: ignore[method-assign]
    fast: list[str] = []
    quick = services.oidc.tokens.quick_client_credentials

    def counted_quick(form: Any, authorization: str | None) -> Issued | None:
        issued = quick(form, authorization)
        if issued is not None:
            fast.append(issued.body["access_token"])
        return issued

    services.oidc.tokens.quick_client_credentials = counted_quick  # type: ignore[method-assign]
    browser = stack.enter_context(TestClient(create_app(services), base_url=BASE_URL))
    return Node(services, browser, ticker, fast, route_calls)


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """Two nodes on one database, a client credentials client (ES256) registered on the first."""
    clock, audit = FrozenClock(), RecordingAudit()
    with ExitStack() as stack:
        overrides: dict[str, str] = {}
        schema = None
        if request.param == "postgres":
            schema = stack.enter_context(postgres_schema())
            overrides["database_url"] = postgres_url()
        settings = make_settings(tmp_path, **overrides)
        nodes = []
        for _ in range(2):
            services = build_services(settings, clock=clock, audit=audit, schema=schema)
            stack.callback(services.close)
            upgrade(services.engine)
            nodes.append(_node(stack, services))
        client, secret = nodes[0].services.oidc.clients.register(
            NewClient("batch", grant_types=("client_credentials",), signing_alg="ES256"),
            actor="t",
        )
        assert secret is not None
        yield Env(nodes[0], nodes[1], client, secret, audit)


def _authlib_claims(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    # authlib.jose warns that it is deprecated in favour of joserfc (authlib.deprecate may add a
    # filter of its own, hence record as well as ignore).
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore", DeprecationWarning)
        from authlib.jose import JsonWebKey, JsonWebToken  # type: ignore[import-untyped]

    return dict(JsonWebToken(["ES256"]).decode(token, JsonWebKey.import_key_set(jwks)))


def _issued(audit: RecordingAudit) -> list[str]:
    return [
        event.details.get("detail", "")
        for event in audit.events
        if (event.action, event.outcome.value) == ("oidc.token", "success")
    ]


# --- what the fast path answers --------------------------------------------------------------


def test_a_cached_client_gets_its_token_without_the_route(env: Env) -> None:
    env.warm()

    response = env.first.post(env.secret, env.client)

    assert response.status_code == 200
    assert len(env.first.route_calls) == 1
    body = response.json()
    assert env.first.fast == [body["access_token"]]
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    jwks: Any = env.first.services.oidc.keys.ring().jwks()
    token = jwt.decode(body["access_token"], KeySet.import_key_set(jwks))
    assert token.header["typ"] == "at+jwt"
    assert token.header["alg"] == "ES256"
    claims = token.claims
    assert claims["sub"] == claims["client_id"] == claims["aud"] == env.client.client_id
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    # RFC 7518 §3.4: R || S, 64 bytes, which Authlib (another implementation) verifies too.
    signature = body["access_token"].split(".")[2]
    assert len(base64.urlsafe_b64decode(signature + "==")) == 64
    assert _authlib_claims(body["access_token"], jwks)["jti"] == claims["jti"]
    assert _issued(env.audit) == ["client_credentials", "client_credentials"]


def test_the_fast_path_sends_the_routes_headers(env: Env) -> None:
    by_route = env.first.post(env.secret, env.client)
    fast = env.first.post(env.secret, env.client, headers={"x-request-id": "proxy-id-12345"})

    assert len(env.first.route_calls) == 1
    ignored = {"content-length", "x-request-id"}
    assert [(n, v) for n, v in fast.headers.items() if n not in ignored] == [
        (n, v) for n, v in by_route.headers.items() if n not in ignored
    ]
    assert fast.headers["cache-control"] == "no-store"
    assert fast.headers["pragma"] == "no-cache"
    assert fast.headers["x-request-id"] == "proxy-id-12345"


def test_each_fast_token_is_counted_in_the_metrics(env: Env) -> None:
    env.warm()
    for _ in range(3):
        env.first.post(env.secret, env.client)

    metrics = env.first.services.metrics.render().decode()

    assert 'quivive_tokens_issued_total{grant="client_credentials"} 4.0' in metrics
    assert 'quivive_http_request_duration_seconds_count{method="POST",status="200"} 4.0' in metrics


def test_each_fast_token_is_in_the_audit_trail(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    services = build_services(settings, clock=FrozenClock())  # the real hash-chained trail
    try:
        upgrade(services.engine)
        client, secret = services.oidc.clients.register(
            NewClient("batch", grant_types=("client_credentials",)), actor="t"
        )
        assert secret is not None
        with TestClient(create_app(services), base_url=BASE_URL) as browser:
            raw = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
            for _ in range(3):
                response = browser.post(
                    "/token", data=FORM, headers={"authorization": f"Basic {raw}"}
                )
                assert response.status_code == 200
        tokens = [r for r in services.audit_trail.latest(10) if r.action == "oidc.token"]
        assert len(tokens) == 3
        assert services.audit_trail.verify().ok
    finally:
        services.close()


# --- what it leaves to the route -------------------------------------------------------------


def test_a_wrong_secret_is_the_routes_invalid_client(env: Env) -> None:
    env.warm()

    response = env.first.post("wrong", env.client)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert len(env.first.route_calls) == 2
    assert ("oidc.client_auth", "failure") in env.audit.actions()


def test_a_removed_client_is_refused_at_once_by_its_node(env: Env) -> None:
    env.warm()

    env.first.services.oidc.clients.remove(env.client.client_id, actor="t")

    assert env.first.post(env.secret, env.client).status_code == 401


def test_another_node_refuses_a_removed_client_within_the_cache_lifetime(env: Env) -> None:
    env.warm(env.second)
    env.first.services.oidc.clients.remove(env.client.client_id, actor="t")

    env.second.ticker.now += CACHE_TTL_S

    assert env.second.post(env.secret, env.client).status_code == 401


def test_another_node_refuses_a_rotated_secret_within_the_cache_lifetime(env: Env) -> None:
    env.warm(env.second)
    _, new_secret = env.first.services.oidc.clients.rotate_secret(env.client.client_id, actor="t")

    # The documented window: the second node still knows the old hash for up to CACHE_TTL_S.
    env.second.ticker.now += CACHE_TTL_S - 0.5
    assert env.second.post(env.secret, env.client).status_code == 200
    env.second.ticker.now += 0.5

    assert env.second.post(env.secret, env.client).status_code == 401
    assert env.second.post(new_secret, env.client).status_code == 200
    assert env.first.post(env.secret, env.client).status_code == 401


def test_a_grant_taken_away_is_the_routes_unauthorized_client(env: Env) -> None:
    env.warm()
    changes = ClientChanges(grant_types=("authorization_code",), redirect_uris=("https://a.b/c",))

    env.first.services.oidc.clients.update(env.client.client_id, changes, actor="t")
    response = env.first.post(env.secret, env.client)

    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"data": {**FORM, "scope": "openid"}}, 400, "invalid_scope"),
        ({"data": {"grant_type": "authorization_code"}}, 400, "unauthorized_client"),
        ({"data": {"grant_type": "password"}}, 400, "unsupported_grant_type"),
        ({"content": b"grant_type=client_credentials&grant_type=x"}, 400, "invalid_request"),
        ({"content": b"grant_type=client_credentials&x=\xff"}, 400, "invalid_request"),
        ({"params": {"grant_type": "client_credentials"}}, 400, "invalid_request"),
        ({"headers": {"authorization": "Basic !!!"}}, 401, "invalid_client"),
        (
            {"headers": {"authorization": "Basic " + base64.b64encode(b"nocolon").decode()}},
            401,
            "invalid_client",
        ),
        ({"headers": {"authorization": "Bearer abc"}}, 401, "invalid_client"),
        (
            {"headers": {"content-type": "application/json"}, "content": b"{}"},
            400,
            "invalid_request",
        ),
    ],
)
def test_unusual_requests_are_answered_by_the_route(
    env: Env, kwargs: dict[str, Any], status: int, error: str
) -> None:
    env.warm()
    if "content" in kwargs and "headers" not in kwargs:
        kwargs["headers"] = {"content-type": "application/x-www-form-urlencoded"}

    response = env.first.post(env.secret, env.client, **kwargs)

    assert (response.status_code, response.json()["error"]) == (status, error)
    assert env.first.fast == []


def test_an_oversize_body_is_the_routes_invalid_request(env: Env) -> None:
    env.warm()
    padding = "x" * MAX_BODY_BYTES

    response = env.first.post(env.secret, env.client, data={**FORM, "padding": padding})

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "request body too large",
    }


# --- the layer itself --------------------------------------------------------------------------


def test_a_body_in_several_chunks_reaches_the_route_whole(tmp_path: Path) -> None:
    """The fast path reads the body to decide; what it passes on must be the same stream."""
    seen: list[Message] = []

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        while not seen or seen[-1].get("more_body"):
            seen.append(await receive())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    chunks = [b"grant_type=", b"password&", b"username=a"]
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> Message:
        return messages.pop(0)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    services = build_services(make_settings(tmp_path), clock=FrozenClock())
    try:
        layer = TokenFastPath(route, services=services)
        scope = {
            "type": "http",
            "path": "/token",
            "method": "POST",
            "query_string": b"",
            "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
        }
        asyncio.run(layer(scope, receive, send))
    finally:
        services.close()

    assert b"".join(m["body"] for m in seen) == b"".join(chunks)
    assert json.dumps([m.get("more_body") for m in seen]) == "[true, true, false]"
    assert sent[0]["status"] == 204
