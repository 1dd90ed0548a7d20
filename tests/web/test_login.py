"""Password sign-in and sign-out through the web edge: cookies, CSRF, strict forms, headers."""

# French typography writes the apostrophe as U+2019, as the catalogue does.
# ruff: noqa: RUF001

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.services.accounts import NewAccount
from quivive.web.app import create_app
from support.quivive import RecordingAudit, running_services

PASSWORD = "correct horse battery staple 42"
SESSION_COOKIE = "quivive_session"
BASE_URL = "http://localhost:8080"
HTTPS_URL = "https://auth.hopital.example"


# --- helpers -------------------------------------------------------------------------------------


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match[1]


def form_token(client: TestClient, path: str = "/login") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return csrf_token(response.text)


def log_in(
    client: TestClient,
    username: str = "alice",
    password: str = PASSWORD,
    **fields: str,
) -> httpx2.Response:
    data = {"csrf_token": form_token(client), "username": username, "password": password}
    return client.post("/login", data={**data, **fields}, follow_redirects=False)


def post_raw(client: TestClient, body: bytes, **headers: str) -> httpx2.Response:
    headers = {"content-type": "application/x-www-form-urlencoded", **headers}
    return client.post("/login", content=body, headers=headers, follow_redirects=False)


def alert_text(page: str) -> str:
    match = re.search(r'role="alert"[^>]*>(.*?)</', page, re.DOTALL)
    assert match, "no alert on the page"
    return html.unescape(match[1]).strip()


def heading(page: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", page, re.DOTALL)
    assert match
    return html.unescape(match[1]).strip()


def set_cookie(response: httpx2.Response, name: str) -> list[str] | None:
    """The attributes of the Set-Cookie for ``name`` (first item ``name=value``), or None."""
    for header in response.headers.get_list("set-cookie"):
        parts = [part.strip() for part in header.split(";")]
        if parts[0].partition("=")[0] == name:
            return parts
    return None


def session_token(response: httpx2.Response, name: str = SESSION_COOKIE) -> str:
    attributes = set_cookie(response, name)
    assert attributes is not None, f"no {name} cookie set"
    return attributes[0].partition("=")[2]


def account_with(client: TestClient, token: str) -> httpx2.Response:
    """GET /account presenting only this session cookie (as an attacker replaying it would)."""
    cookie = f"{SESSION_COOKIE}={token}"
    return client.get("/account", headers={"cookie": cookie}, follow_redirects=False)


def login_events(audit: RecordingAudit) -> list[tuple[str, str | None]]:
    return [
        (event.outcome.value, event.source_address)
        for event in audit.events
        if event.action == "login.password"
    ]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def alice(sqlite_services: Services) -> None:
    account = NewAccount("alice", PASSWORD, display_name="Alice Martin")
    sqlite_services.accounts.create(account, actor="test")


@pytest.fixture
def https_client(tmp_path: Path) -> Iterator[TestClient]:
    with running_services(tmp_path, settings={"public_url": HTTPS_URL}) as services:
        services.accounts.create(NewAccount("alice", PASSWORD), actor="test")
        with TestClient(create_app(services), base_url=HTTPS_URL) as client:
            yield client


# --- language ------------------------------------------------------------------------------------


def test_login_page_is_french_by_default(client: TestClient) -> None:
    response = client.get("/login")

    assert response.status_code == 200
    assert '<html lang="fr">' in response.text
    assert heading(response.text) == "Se connecter"
    assert response.headers["cache-control"] == "no-store"


def test_login_page_follows_accept_language(client: TestClient) -> None:
    response = client.get("/login", headers={"accept-language": "en-US,en;q=0.9"})

    assert '<html lang="en">' in response.text
    assert heading(response.text) == "Sign in"


@pytest.mark.parametrize(
    ("chosen", "accept_language", "expected"),
    [("en", "fr-FR,fr;q=0.9", "Sign in"), ("fr", "en-US,en;q=0.9", "Se connecter")],
)
def test_language_switch_wins_over_accept_language(
    client: TestClient, chosen: str, accept_language: str, expected: str
) -> None:
    switch = client.get(f"/language/{chosen}?next=/login", follow_redirects=False)

    assert switch.status_code == 303
    assert switch.headers["location"] == "/login"
    cookie = set_cookie(switch, "quivive_lang")
    assert cookie is not None
    assert cookie[0] == f"quivive_lang={chosen}"
    page = client.get("/login", headers={"accept-language": accept_language})
    assert heading(page.text) == expected


def test_language_switch_ignores_unknown_languages_and_foreign_next(client: TestClient) -> None:
    response = client.get("/language/de?next=//evil.example/", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert set_cookie(response, "quivive_lang") is None


# --- successful sign-in and the session cookie ---------------------------------------------------


@pytest.mark.usefixtures("alice")
def test_login_redirects_to_account_with_a_strict_session_cookie(client: TestClient) -> None:
    response = log_in(client)

    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    attributes = set_cookie(response, SESSION_COOKIE)
    assert attributes is not None
    flags = {attribute.lower() for attribute in attributes[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= flags
    assert "secure" not in flags  # plain http on localhost: a Secure cookie would be dropped
    assert "strict-transport-security" not in response.headers
    account = client.get("/account")
    assert account.status_code == 200
    assert '<dd id="username">alice</dd>' in account.text


def test_over_https_the_cookie_is_host_prefixed_and_secure(https_client: TestClient) -> None:
    response = log_in(https_client)

    assert response.status_code == 303
    assert set_cookie(response, SESSION_COOKIE) is None
    attributes = set_cookie(response, f"__Host-{SESSION_COOKIE}")
    assert attributes is not None
    flags = {attribute.lower() for attribute in attributes[1:]}
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= flags
    assert not any(flag.startswith("domain=") for flag in flags)  # __Host- forbids Domain
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert https_client.get("/account").status_code == 200


def test_over_https_the_csrf_cookie_is_host_prefixed_too(https_client: TestClient) -> None:
    response = https_client.get("/login")

    attributes = set_cookie(response, "__Host-quivive_csrf")
    assert attributes is not None
    assert "secure" in {attribute.lower() for attribute in attributes[1:]}
    assert "strict-transport-security" in response.headers


@pytest.mark.usefixtures("alice")
def test_every_login_gets_a_new_session_id_and_ends_the_old_one(client: TestClient) -> None:
    first = session_token(log_in(client))
    second = session_token(log_in(client))

    assert first != second
    assert len(second) >= 22  # at least 128 bits, base64url
    assert account_with(client, first).status_code == 303
    assert account_with(client, second).status_code == 200


# --- failures that must look alike ---------------------------------------------------------------


def test_unknown_user_wrong_password_and_disabled_account_look_identical(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    # The same username in three states, so whole pages can be compared byte for byte.
    unknown = log_in(client, "carol", PASSWORD)
    sqlite_services.accounts.create(NewAccount("carol", PASSWORD), actor="test")
    wrong = log_in(client, "carol", PASSWORD + "!")
    sqlite_services.accounts.disable("carol", actor="test")
    disabled = log_in(client, "carol", PASSWORD)

    responses = (unknown, wrong, disabled)
    assert {response.status_code for response in responses} == {401}
    assert {alert_text(response.text) for response in responses} == {
        "Identifiant ou mot de passe incorrect."
    }
    assert unknown.content == wrong.content == disabled.content
    assert all(set_cookie(response, SESSION_COOKIE) is None for response in responses)
    reasons = [event.reason for event in audit.events if event.action == "login.password"]
    assert reasons == ["unknown_user", "bad_password", "disabled"]


@pytest.mark.usefixtures("alice")
def test_failed_login_keeps_the_username_and_marks_the_field(client: TestClient) -> None:
    response = log_in(client, "alice", "not the password at all")

    assert 'value="alice"' in response.text
    assert 'aria-invalid="true"' in response.text


# --- CSRF ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("alice")
def test_post_without_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/login")
    response = client.post(
        "/login", data={"username": "alice", "password": PASSWORD}, follow_redirects=False
    )

    assert response.status_code == 403
    assert heading(response.text) == "Accès refusé"
    assert "autre site" in alert_text(response.text)
    assert set_cookie(response, SESSION_COOKIE) is None


@pytest.mark.usefixtures("alice")
def test_post_without_csrf_cookie_is_refused(client: TestClient) -> None:
    token = form_token(client)
    client.cookies.clear()

    response = client.post(
        "/login",
        data={"csrf_token": token, "username": "alice", "password": PASSWORD},
        follow_redirects=False,
    )

    assert response.status_code == 403


@pytest.mark.usefixtures("alice")
def test_csrf_token_from_another_browser_is_refused(client: TestClient) -> None:
    other_browsers_token = form_token(client)
    client.cookies.clear()  # a second browser: its own cookie jar, its own nonce
    own_token = form_token(client)
    assert own_token != other_browsers_token

    response = client.post(
        "/login",
        data={"csrf_token": other_browsers_token, "username": "alice", "password": PASSWORD},
        follow_redirects=False,
    )

    assert response.status_code == 403
    assert set_cookie(response, SESSION_COOKIE) is None


@pytest.mark.usefixtures("alice")
@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:8081", "null"])
def test_cross_origin_post_is_refused(client: TestClient, origin: str) -> None:
    token = form_token(client)

    response = client.post(
        "/login",
        data={"csrf_token": token, "username": "alice", "password": PASSWORD},
        headers={"origin": origin},
        follow_redirects=False,
    )

    assert response.status_code == 403
    assert set_cookie(response, SESSION_COOKIE) is None


@pytest.mark.usefixtures("alice")
def test_same_origin_post_is_accepted(client: TestClient) -> None:
    token = form_token(client)

    response = client.post(
        "/login",
        data={"csrf_token": token, "username": "alice", "password": PASSWORD},
        headers={"origin": BASE_URL},
        follow_redirects=False,
    )

    assert response.status_code == 303


# --- strict form parsing -------------------------------------------------------------------------


@pytest.mark.usefixtures("alice")
@pytest.mark.parametrize(
    ("username", "password"),
    [("a" * 257, PASSWORD), ("alice", "é" * 257)],
    ids=["username", "password"],
)
def test_oversize_fields_get_a_clear_400(
    client: TestClient,
    sqlite_services: Services,
    audit: RecordingAudit,
    username: str,
    password: str,
) -> None:
    response = log_in(client, username, password)

    assert response.status_code == 400
    assert alert_text(response.text) == "Un champ est trop long (256 caractères au maximum)."
    assert set_cookie(response, SESSION_COOKIE) is None
    assert login_events(audit) == []  # the services never saw it
    assert [user.username for user in sqlite_services.accounts.list()] == ["alice"]


@pytest.mark.usefixtures("alice")
def test_256_code_points_is_not_too_long(client: TestClient) -> None:
    response = log_in(client, "alice", "é" * 256)

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        (None, "Le formulaire n’a pas pu être lu. Veuillez réessayer."),
        ("en", "The form could not be read. Please try again."),
    ],
)
@pytest.mark.parametrize("bad_bytes", [b"%FF", b"\xff", b"%C3%28", b"%ED%A0%80"])
def test_invalid_utf8_gets_a_400_page_in_the_users_language(
    client: TestClient,
    audit: RecordingAudit,
    accept_language: str | None,
    expected: str,
    bad_bytes: bytes,
) -> None:
    token = form_token(client).encode()
    body = b"csrf_token=" + token + b"&username=alice" + bad_bytes + b"&password=x"
    headers = {"accept-language": accept_language} if accept_language else {}

    response = post_raw(client, body, **headers)

    assert response.status_code == 400
    assert alert_text(response.text) == expected
    assert login_events(audit) == []


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "multipart/form-data; boundary=x", "text/plain", ""],
)
def test_wrong_content_type_is_a_400(client: TestClient, content_type: str) -> None:
    token = form_token(client)
    body = f"csrf_token={token}&username=alice&password=x".encode()

    response = client.post(
        "/login", content=body, headers={"content-type": content_type}, follow_redirects=False
    )

    assert response.status_code == 400
    assert alert_text(response.text) == "Le formulaire n’a pas pu être lu. Veuillez réessayer."


@pytest.mark.parametrize("repeated", ["username", "password", "csrf_token", "next"])
def test_repeated_fields_are_a_400(client: TestClient, repeated: str) -> None:
    token = form_token(client)
    fields = {"csrf_token": token, "username": "alice", "password": PASSWORD, "next": "/account"}
    body = "&".join(f"{name}={value}" for name, value in fields.items())
    body += f"&{repeated}=other"

    response = post_raw(client, body.encode())

    assert response.status_code == 400
    assert set_cookie(response, SESSION_COOKIE) is None


def test_oversize_body_is_a_400(client: TestClient) -> None:
    token = form_token(client)
    body = f"csrf_token={token}&username=alice&password=".encode() + b"x" * 20_000

    response = post_raw(client, body)

    assert response.status_code == 400


@pytest.mark.parametrize(
    "cookie",
    [
        'quivive_session="unterminated',
        "=;;=; ;",
        "quivive_session=" + "x" * 5000,
        "quivive_session=\xe9t\xe9; quivive_lang=\x7f",
        "quivive_lang=en; quivive_lang=fr; quivive_csrf",
        "\\",
    ],
)
def test_malformed_cookie_header_does_not_crash(client: TestClient, cookie: str) -> None:
    headers = {b"cookie": cookie.encode("latin-1")}  # raw bytes, as a hostile client may send

    assert client.get("/login", headers=headers).status_code == 200
    account = client.get("/account", headers=headers, follow_redirects=False)
    assert account.status_code == 303
    assert account.headers["location"].startswith("/login")


# --- where sign-in leads -------------------------------------------------------------------------


@pytest.mark.usefixtures("alice")
@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "///evil.example/",
        "\\\\evil.example",
        "http:evil.example",
        "/\t/evil.example",
        "",
    ],
)
def test_open_redirects_land_on_account(client: TestClient, target: str) -> None:
    response = log_in(client, next=target)

    assert response.status_code == 303
    assert response.headers["location"] == "/account"


@pytest.mark.usefixtures("alice")
def test_a_local_next_path_is_honoured(client: TestClient) -> None:
    response = log_in(client, next="/account?tab=sessions")

    assert response.headers["location"] == "/account?tab=sessions"


def test_next_from_the_query_is_carried_into_the_form_only_when_local(client: TestClient) -> None:
    local = client.get("/login?next=/account%3Ftab%3Dsessions").text
    foreign = client.get("/login?next=//evil.example").text

    assert 'name="next" value="/account?tab=sessions"' in local
    assert 'name="next" value="/account"' in foreign


def test_account_without_session_sends_to_login_with_next(client: TestClient) -> None:
    response = client.get("/account", follow_redirects=False)

    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/account"]


# --- headers and error pages ---------------------------------------------------------------------


def assert_security_headers(response: httpx2.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/logout",
        "/account",
        "/",
        "/no/such/page",
        "/healthz",
        "/readyz",
        "/static/quivive.css",
        "/static/missing.css",
        "/language/en",
        "/setup/not-a-token",
    ],
)
def test_security_headers_on_every_page(client: TestClient, path: str) -> None:
    assert_security_headers(client.get(path, follow_redirects=False))


def test_security_headers_on_refused_posts(client: TestClient) -> None:
    assert_security_headers(client.post("/login", data={"username": "x"}))
    assert_security_headers(post_raw(client, b"%FF"))


def test_unexpected_error_page_is_generic_and_keeps_security_headers(
    sqlite_services: Services,
) -> None:
    app = create_app(sqlite_services)

    async def broken() -> None:
        raise RuntimeError("database exploded: secret detail")

    app.add_api_route("/broken", broken)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        response = client.get("/broken", headers={"accept-language": "en"})

    assert response.status_code == 500
    assert heading(response.text) == "Something went wrong"
    assert "secret detail" not in response.text
    assert_security_headers(response)


@pytest.mark.parametrize(
    ("accept_language", "title"),
    [(None, "Page introuvable"), ("en-GB,en;q=0.8", "Page not found")],
)
def test_404_page_in_the_users_language(
    client: TestClient, accept_language: str | None, title: str
) -> None:
    headers = {"accept-language": accept_language} if accept_language else {}

    response = client.get("/no/such/page", headers=headers)

    assert response.status_code == 404
    assert heading(response.text) == title
    assert response.headers["content-type"].startswith("text/html")


def test_405_page_carries_an_allow_header(client: TestClient) -> None:
    response = client.put("/login")

    assert response.status_code == 405
    assert heading(response.text) == "Méthode non autorisée"
    # RFC 9110: a 405 lists every allowed method, though GET and POST /login are two routes.
    assert response.headers["allow"] == "GET, HEAD, POST"


def test_health_probes_answer_head(client: TestClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = client.head(path)

        assert response.status_code == 200
        assert response.content == b""


# --- sign-out and session end --------------------------------------------------------------------


def test_logout_page_asks_for_confirmation(client: TestClient) -> None:
    response = client.get("/logout")

    assert response.status_code == 200
    assert '<form method="post" action="/logout">' in response.text
    assert csrf_token(response.text)


@pytest.mark.usefixtures("alice")
def test_logout_ends_the_session(client: TestClient, audit: RecordingAudit) -> None:
    token = session_token(log_in(client))
    page = client.get("/account")

    response = client.post(
        "/logout", data={"csrf_token": csrf_token(page.text)}, follow_redirects=False
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/login?notice=signed_out"
    cleared = set_cookie(response, SESSION_COOKIE)
    assert cleared is not None
    assert any(attribute.lower() == "max-age=0" for attribute in cleared)
    assert account_with(client, token).status_code == 303
    assert ("logout", "success") in audit.actions()
    notice = client.get("/login?notice=signed_out")
    assert "Vous êtes déconnecté." in notice.text


@pytest.mark.usefixtures("alice")
def test_logout_without_csrf_token_keeps_the_session(client: TestClient) -> None:
    token = session_token(log_in(client))

    response = client.post("/logout", data={"csrf_token": ""}, follow_redirects=False)

    assert response.status_code == 403
    assert account_with(client, token).status_code == 200


@pytest.mark.usefixtures("alice")
def test_idle_session_expires_after_15_minutes(client: TestClient, clock: FrozenClock) -> None:
    token = session_token(log_in(client))
    for _ in range(2):  # activity keeps it alive past 15 minutes in total
        clock.advance(timedelta(minutes=14))
        assert account_with(client, token).status_code == 200

    clock.advance(timedelta(minutes=15, seconds=1))
    response = account_with(client, token)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faccount&notice=expired"
    cleared = set_cookie(response, SESSION_COOKIE)
    assert cleared is not None
    assert "max-age=0" in [part.lower() for part in cleared]
    notice = client.get(response.headers["location"]).text
    assert "Votre session est terminée. Veuillez vous reconnecter." in notice


def test_a_first_visit_is_not_told_its_session_ended(client: TestClient) -> None:
    response = client.get("/account", follow_redirects=False)

    assert response.headers["location"] == "/login?next=%2Faccount"


@pytest.mark.usefixtures("alice")
def test_disabling_the_account_ends_its_web_session_at_once(
    client: TestClient, sqlite_services: Services
) -> None:
    token = session_token(log_in(client))
    assert account_with(client, token).status_code == 200

    sqlite_services.accounts.disable("alice", actor="test")

    assert account_with(client, token).status_code == 303
    sqlite_services.accounts.enable("alice", actor="test")
    assert account_with(client, token).status_code == 303  # ended, not merely suspended


# --- client address ------------------------------------------------------------------------------


@pytest.mark.usefixtures("alice")
def test_forwarded_for_is_ignored_without_trusted_proxies(
    client: TestClient, audit: RecordingAudit
) -> None:
    log_in(client)
    client.post(
        "/login",
        data={"csrf_token": form_token(client), "username": "alice", "password": PASSWORD},
        headers={"x-forwarded-for": "203.0.113.7"},
        follow_redirects=False,
    )

    peer = login_events(audit)[0][1]
    assert login_events(audit) == [("success", peer), ("success", peer)]
    assert peer != "203.0.113.7"


@pytest.mark.parametrize(("proxies", "expected"), [(1, "203.0.113.7"), (2, "198.51.100.1")])
def test_forwarded_for_is_honoured_from_the_right_with_trusted_proxies(
    tmp_path: Path, audit: RecordingAudit, proxies: int, expected: str
) -> None:
    settings = {"trusted_proxies": str(proxies)}
    with running_services(tmp_path, audit=audit, settings=settings) as services:
        services.accounts.create(NewAccount("alice", PASSWORD), actor="test")
        with TestClient(create_app(services), base_url=BASE_URL) as client:
            client.post(
                "/login",
                data={"csrf_token": form_token(client), "username": "alice", "password": "bad"},
                headers={"x-forwarded-for": "192.0.2.66, 198.51.100.1, 203.0.113.7"},
            )

    assert login_events(audit) == [("failure", expected)]


# --- probes --------------------------------------------------------------------------------------


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok"}


def test_readyz_is_503_when_the_database_is_unreachable(
    sqlite_services: Services, tmp_path: Path
) -> None:
    nowhere = create_engine(f"sqlite:///{tmp_path}/missing-dir/quivive.db")
    app = create_app(replace(sqlite_services, engine=nowhere))
    try:
        with TestClient(app, base_url=BASE_URL) as client:
            ready = client.get("/readyz")
            alive = client.get("/healthz")
    finally:
        nowhere.dispose()

    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"
    assert alive.status_code == 200
