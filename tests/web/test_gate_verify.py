"""``/api/verify`` and ``/gate/sign-in`` through the web edge (the proxy simulated by headers)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import httpx2
import pytest
import redis
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services, build_services
from quivive.domain.gate import Identity
from quivive.services.accounts import NewAccount
from quivive.services.sessions import ActiveSession
from quivive.storage.database import upgrade
from quivive.web.app import create_app
from support.admin_console import add_user, csrf_token, sign_in_as
from support.gate_proxy import RULES as PROXY_RULES
from support.quivive import RecordingAudit, make_settings, postgres_schema, postgres_url
from support.services import require_service

PASSWORD = "correct horse battery staple 42"
BASE_URL = "http://localhost:8080"
APP = "http://app.localhost:9000"
# The proxy tests' rules for app.localhost, and a host whose level depends on the network.
RULES = (
    PROXY_RULES
    + """
[[gate.rules]]
host = "lan.localhost"
min_aal = 2
networks = ["10.0.0.0/8"]
networks_min_aal = 1
"""
)
LOOPBACK = ("127.0.0.1", 50000)


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "quivive.toml"
    path.write_text(RULES)
    return path


@contextmanager
def quivive(
    data_dir: Path, config: Path, *, schema: str | None = None, **settings: str
) -> Iterator[Services]:
    overrides = {"config": str(config), **settings}
    if schema is not None:
        overrides["database_url"] = postgres_url()
    services = build_services(
        make_settings(data_dir, **overrides),
        clock=FrozenClock(),
        audit=RecordingAudit(),
        schema=schema,
    )
    try:
        upgrade(services.engine)
        yield services
    finally:
        services.close()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with quivive(tmp_path, write_config(tmp_path)) as built:
        built.accounts.create(
            NewAccount("alice", PASSWORD, display_name="Alice Martin", email="e@h.example"),
            actor="test",
        )
        built.accounts.create(NewAccount("root", PASSWORD, roles=["admin", "dsi"]), actor="test")
        yield built


def client_for(services: Services, peer: tuple[str, int] = LOOPBACK) -> TestClient:
    return TestClient(create_app(services), base_url=BASE_URL, client=peer)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with client_for(services) as test_client:
        yield test_client


def log_in(client: TestClient, username: str = "alice", next_url: str = "/account") -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    data = {"csrf_token": token[1], "username": username, "password": PASSWORD, "next": next_url}
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def verify(
    client: TestClient, url: str, *, mode: str = "", method: str = "GET", **headers: str
) -> httpx2.Response:
    query = f"?mode={mode}" if mode else ""
    sent = {"x-original-url": url, "x-original-method": method, "accept-language": "en", **headers}
    return client.get(f"/api/verify{query}", headers=sent, follow_redirects=False)


def sign_in_location(url: str) -> str:
    return f"{BASE_URL}/gate/sign-in?rd={quote(url, safe='')}"


# --- answers to the proxy ---------------------------------------------------------------------


def test_not_signed_in_nginx_mode_is_401_with_where_to_sign_in(client: TestClient) -> None:
    url = f"{APP}/dossier?id=1&tab=2"
    response = verify(client, url)
    assert response.status_code == 401
    assert response.headers["location"] == sign_in_location(url)
    assert response.headers["cache-control"] == "no-store"
    assert "remote-user" not in response.headers


def test_not_signed_in_redirect_mode_is_302_or_303_after_a_post(client: TestClient) -> None:
    forwarded = {
        "x-forwarded-proto": "http",
        "x-forwarded-host": "app.localhost:9000",
        "x-forwarded-uri": "/x?y=1",
    }
    got = client.get("/api/verify?mode=redirect", headers=forwarded, follow_redirects=False)
    assert got.status_code == 302
    assert got.headers["location"] == sign_in_location(f"{APP}/x?y=1")
    posted = client.get(
        "/api/verify?mode=redirect",
        headers={**forwarded, "x-forwarded-method": "POST"},
        follow_redirects=False,
    )
    assert posted.status_code == 303


def test_signed_in_and_allowed_gets_the_identity_headers(client: TestClient) -> None:
    log_in(client)
    response = verify(client, f"{APP}/dossier")
    assert response.status_code == 200
    raw = {name.decode(): value for name, value in response.headers.raw}
    assert raw["remote-user"] == b"alice"
    assert raw["remote-name"] == b"Alice Martin"  # UTF-8 names: see test_gate_nginx
    assert raw["remote-email"] == b"e@h.example"
    assert raw["remote-groups"] == b""
    assert raw["remote-aal"] == b"1"


def test_roles_go_in_remote_groups(client: TestClient) -> None:
    log_in(client, "root")
    response = verify(client, f"{APP}/admin/users")
    assert response.status_code == 200
    assert response.headers["remote-groups"] == "admin,dsi"


def test_signed_in_without_the_role_gets_a_403_page_in_their_language(
    client: TestClient,
) -> None:
    log_in(client)
    response = verify(client, f"{APP}/admin/users", **{"accept-language": "fr"})
    assert response.status_code == 403
    assert "remote-user" not in response.headers
    assert "Accès refusé" in response.text
    assert "rôle" in response.text
    english = verify(client, f"{APP}/admin/users", **{"accept-language": "en"})
    assert "does not have a role" in english.text


def test_unknown_hosts_are_denied_even_when_signed_in(client: TestClient) -> None:
    log_in(client)
    response = verify(client, "http://other.localhost/")
    assert response.status_code == 403
    assert "not protected by any access rule" in response.text


def test_bypass_paths_pass_without_identity(client: TestClient) -> None:
    public = verify(client, f"{APP}/health")
    assert public.status_code == 200
    assert public.headers["remote-user"] == ""  # empty: see test_gate_redirect_mode
    assert verify(client, f"{APP}/health/../admin").status_code == 401


def test_level_too_low_sends_to_sign_in_for_a_step_up(client: TestClient) -> None:
    log_in(client)
    response = verify(client, f"{APP}/secure/x")
    assert response.status_code == 401
    assert response.headers["location"] == sign_in_location(f"{APP}/secure/x")


def test_networks_relax_the_level_only_for_addresses_the_proxy_reports_inside(
    client: TestClient,
) -> None:
    log_in(client)
    url = "http://lan.localhost/"
    assert verify(client, url, **{"x-forwarded-for": "10.2.3.4"}).status_code == 200
    assert verify(client, url, **{"x-forwarded-for": "203.0.113.7"}).status_code == 401
    # No X-Forwarded-For: the peer is the proxy, whose address says nothing: outside.
    assert verify(client, url).status_code == 401
    # Only the proxy's own hop counts: a client-supplied inside address before it is ignored.
    spoofed = verify(client, url, **{"x-forwarded-for": "10.0.0.1, 203.0.113.7"})
    assert spoofed.status_code == 401


def test_callers_that_are_not_a_proxy_are_refused(services: Services) -> None:
    with client_for(services, ("192.0.2.10", 40000)) as outsider:
        response = verify(outsider, f"{APP}/health")
    assert response.status_code == 403
    assert "reverse proxy only" in response.text


def test_with_trusted_proxies_any_peer_is_the_proxy(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with (
        quivive(tmp_path, config, trusted_proxies="1") as services,
        client_for(services, ("192.0.2.10", 40000)) as proxied,
    ):
        assert verify(proxied, f"{APP}/health").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-original-url": "/relative"},
        {"x-original-url": "javascript:alert(1)"},
        {"x-forwarded-host": "app.localhost", "x-forwarded-uri": "/"},
    ],
)
def test_a_proxy_that_sends_no_usable_url_gets_a_403(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/api/verify", headers=headers, follow_redirects=False)
    assert response.status_code == 403


def test_every_method_is_answered(client: TestClient) -> None:
    # nginx's auth_request subrequest keeps the original method.
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
        response = client.request(
            method, "/api/verify", headers={"x-original-url": f"{APP}/"}, follow_redirects=False
        )
        assert response.status_code == 401, method


# --- the browser's side -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "rd",
    [
        "https://evil.example/",
        "//evil.example/",
        "http://app.localhost@evil.example/",
        "http://evil.example\\@app.localhost/",
        "javascript:alert(1)",
        "data:text/html,x",
        "http://app.localhost.evil.example/",
        "/account",
        "",
    ],
)
def test_sign_in_refuses_return_urls_outside_the_domains(client: TestClient, rd: str) -> None:
    log_in(client)
    response = client.get("/gate/sign-in", params={"rd": rd}, follow_redirects=False)
    assert response.status_code == 403
    assert "location" not in response.headers


def test_sign_in_then_back_to_the_original_url(client: TestClient) -> None:
    url = f"{APP}/dossier?id=1&tab=2"
    first = client.get("/gate/sign-in", params={"rd": url}, follow_redirects=False)
    assert first.status_code == 303
    login = urlsplit(first.headers["location"])
    assert login.path == "/login"
    next_url = parse_qs(login.query)["next"][0]
    assert next_url == f"/gate/sign-in?rd={quote(url, safe='')}"
    back = log_in(client, next_url=next_url)
    assert back == next_url
    final = client.get(back, follow_redirects=False)
    assert (final.status_code, final.headers["location"]) == (303, url)
    assert verify(client, url).status_code == 200


def test_step_up_goes_through_the_second_factor_page(client: TestClient) -> None:
    log_in(client)
    url = f"{APP}/secure/report"
    response = client.get("/gate/sign-in", params={"rd": url}, follow_redirects=False)
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    # No factor enrolled yet: the MFA flow asks to enrol one, then comes back here.
    assert target.path in ("/account/mfa-required", "/login/second-factor")
    assert parse_qs(target.query)["next"][0] == f"/gate/sign-in?rd={quote(url, safe='')}"


def test_signed_in_but_denied_sign_in_shows_the_reason(client: TestClient) -> None:
    log_in(client)
    response = client.get("/gate/sign-in", params={"rd": f"{APP}/admin/"}, follow_redirects=False)
    assert response.status_code == 403


# --- the hot path: cache and revocation -------------------------------------------------------


def test_repeated_verifies_are_served_from_the_cache(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_in(client)
    calls: list[str] = []
    resolve = services.sessions.resolve

    def counting(token: str) -> ActiveSession | None:
        calls.append(token)
        return resolve(token)

    monkeypatch.setattr(services.sessions, "resolve", counting)
    for _ in range(20):
        assert verify(client, f"{APP}/x").status_code == 200
    assert len(calls) <= 1


def test_sign_out_on_the_same_node_takes_effect_at_once(client: TestClient) -> None:
    log_in(client)
    assert verify(client, f"{APP}/x").status_code == 200
    page = client.get("/logout")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    client.post("/logout", data={"csrf_token": token[1]}, follow_redirects=False)
    cookie = "quivive_session"
    session = client.cookies.get(cookie)
    assert session is None
    assert verify(client, f"{APP}/x").status_code == 401


@contextmanager
def two_nodes(tmp_path: Path, backend: str, **settings: str) -> Iterator[tuple[Services, Services]]:
    config = write_config(tmp_path)
    with ExitStack() as stack:
        schema = stack.enter_context(postgres_schema()) if backend == "postgres" else None
        first = stack.enter_context(quivive(tmp_path / "a", config, schema=schema, **settings))
        if backend == "sqlite":
            settings = {**settings, "database_url": f"sqlite:///{tmp_path / 'a' / 'quivive.db'}"}
        second = stack.enter_context(quivive(tmp_path / "b", config, schema=schema, **settings))
        yield first, second


def _redis_url() -> str:
    url = "redis://127.0.0.1:6379/14"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        require_service("Redis", False, f"{url}: {exc}")
    return url


@pytest.mark.parametrize("store", ["sqlite", "postgres", "redis"])
def test_revocation_on_one_node_reaches_the_other_within_seconds(
    tmp_path: Path, store: str
) -> None:
    extra = {"redis_url": _redis_url()} if store == "redis" else {}
    backend = "postgres" if store == "postgres" else "sqlite"
    with two_nodes(tmp_path, backend, **extra) as (first, second):
        first.accounts.create(NewAccount("alice", PASSWORD), actor="test")
        with client_for(first) as a, client_for(second) as b:
            log_in(a)
            b.cookies.update(a.cookies)
            assert verify(b, f"{APP}/x").status_code == 200  # cached on node b now
            assert verify(a, f"{APP}/x").status_code == 200
            first.accounts.disable("alice", actor="test")  # on node a (or the CLI)
            assert verify(a, f"{APP}/x").status_code == 401
            deadline = time.monotonic() + 5
            while verify(b, f"{APP}/x").status_code == 200:
                assert time.monotonic() < deadline, "node b still lets the session through"
                time.sleep(0.2)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_rule_added_in_one_nodes_console_reaches_the_others_gate_without_restart(
    tmp_path: Path, backend: str
) -> None:
    wiki = "http://wiki.localhost:9000/page"
    with two_nodes(tmp_path, backend) as (first, second):
        first.accounts.create(NewAccount("alice", PASSWORD), actor="test")
        with client_for(first) as a, client_for(second) as b:
            log_in(a)
            b.cookies.update(a.cookies)
            assert verify(b, wiki).status_code == 403  # no rule for the host: default deny
            with client_for(first) as console:  # an administrator, on node a's console
                sign_in_as(console, first, add_user(first, "root", "admin"))
                token = csrf_token(console.get("/admin/rules/new").text)
                form = {"csrf_token": token, "host": "wiki.localhost", "min_aal": "1"}
                assert console.post("/admin/rules", data=form).status_code == 200
            assert verify(a, wiki).status_code == 200  # this node: at once
            deadline = time.monotonic() + 5
            while verify(b, wiki).status_code != 200:  # the other: on its next poll
                assert time.monotonic() < deadline, "node b still applies the old rules"
                time.sleep(0.2)


def test_concurrent_misses_for_one_session_load_it_once(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_in(client)
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    calls: list[str] = []
    load = services.gate.load

    def slow_load(token: str) -> Identity | None:
        calls.append(token)
        time.sleep(0.3)  # while it runs, the other requests arrive
        return load(token)

    monkeypatch.setattr(services.gate, "load", slow_load)
    app = create_app(services)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        headers = {"cookie": cookie, "x-original-url": f"{APP}/x"}
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as browser:
            answers = await asyncio.gather(
                *(browser.get("/api/verify", headers=headers) for _ in range(10))
            )
        return [answer.status_code for answer in answers]

    assert asyncio.run(burst()) == [200] * 10
    assert len(calls) == 1
