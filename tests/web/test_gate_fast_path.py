"""``VerifyFastPath``'s memory: parsed URLs and answers kept, bounded, forgotten when the rules
change, and a refused URL refused every time; the headers read as the route reads them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.types import Message, Receive, Scope, Send

from quivive.composition import Services
from quivive.domain.gate import BadOriginalRequest, parse_original
from quivive.domain.sessions import AssuranceLevel
from quivive.services.accounts import NewAccount
from quivive.services.mfa import Origin
from quivive.web.routes import gate
from quivive.web.routes.gate import MAX_CACHED_URLS, VERIFY_PATH, VerifyFastPath
from quivive.web.state import SESSION_COOKIE
from support.quivive import running_services

PASSWORD = "correct horse battery staple 42"
PASSED_ON = 418  # what the stack behind the fast path answers: the route would decide


async def stack(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": PASSED_ON, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def nothing() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


@pytest.fixture
def services(sqlite_services: Services) -> Services:
    sqlite_services.gate_rules.add(
        {"host": "app.localhost", "roles": ["medecin"]}, actor="test", origin=Origin()
    )
    return sqlite_services


@pytest.fixture
def token(services: Services) -> str:
    user = services.accounts.create(
        NewAccount("alice", PASSWORD, display_name="Alice", roles=["medecin"]), actor="test"
    )
    return services.sessions.start(
        user, amr=("pwd",), aal=AssuranceLevel.AAL1, source_address=None, user_agent=None
    )


def ask(fast_path: VerifyFastPath, *headers: tuple[str, str]) -> tuple[int, dict[bytes, bytes]]:
    """The status and headers ``fast_path`` answers a loopback proxy's request with."""
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": VERIFY_PATH,
        "query_string": b"",
        "headers": [(name.encode(), value.encode()) for name, value in headers],
        "client": ("127.0.0.1", 50000),
    }
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(fast_path(scope, nothing, send))
    return sent[0]["status"], dict(sent[0]["headers"])


def url_of(url: str, token: str) -> tuple[tuple[str, str], tuple[str, str]]:
    return ("x-original-url", url), ("cookie", f"{SESSION_COOKIE}={token}")


def test_each_url_gets_its_own_answer(services: Services, token: str) -> None:
    fast_path = VerifyFastPath(stack, services=services)
    for _ in range(2):  # the second time from memory, alike
        status, headers = ask(fast_path, *url_of("http://app.localhost/a", token))
        assert (status, headers[b"remote-user"]) == (200, b"alice")
        assert ask(fast_path, *url_of("http://other.localhost/a", token))[0] == PASSED_ON


def test_a_rule_change_applies_at_once(services: Services, token: str) -> None:
    fast_path = VerifyFastPath(stack, services=services)
    assert ask(fast_path, *url_of("http://app.localhost/admin/x", token))[0] == 200
    services.gate_rules.add(
        {"host": "app.localhost", "path_prefix": "/admin", "roles": ["dsi"]},
        actor="test",
        origin=Origin(),
    )
    assert ask(fast_path, *url_of("http://app.localhost/admin/x", token))[0] == PASSED_ON


def test_a_rule_change_on_another_node_applies_after_the_poll(
    services: Services, token: str, tmp_path: Path
) -> None:
    fast_path = VerifyFastPath(stack, services=services)
    assert ask(fast_path, *url_of("http://app.localhost/admin/x", token))[0] == 200
    database = services.engine.url.render_as_string(hide_password=False)
    with running_services(tmp_path / "other-node", settings={"database_url": database}) as other:
        other.gate_rules.add(
            {"host": "app.localhost", "path_prefix": "/admin", "roles": ["dsi"]},
            actor="test",
            origin=Origin(),
        )

    services.gate.poll()  # what every node does once a second

    assert ask(fast_path, *url_of("http://app.localhost/admin/x", token))[0] == PASSED_ON


def test_the_answers_kept_are_bounded(
    services: Services, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gate, "MAX_CACHED_ANSWERS", 4)
    fast_path = VerifyFastPath(stack, services=services)
    for index in range(10):
        assert ask(fast_path, *url_of(f"http://app.localhost/{index}", token))[0] == 200
        assert len(fast_path._answers) <= 4


def test_a_refused_url_is_refused_every_time_and_not_kept(services: Services, token: str) -> None:
    fast_path = VerifyFastPath(stack, services=services)
    for _ in range(2):
        assert ask(fast_path, *url_of("http://app.localhost/a b", token))[0] == PASSED_ON
        assert ask(fast_path, *url_of("javascript://app.localhost/", token))[0] == PASSED_ON
    assert not fast_path._answers


def test_every_cookie_header_is_read_and_the_first_original_url(
    services: Services, token: str
) -> None:
    """As the route reads them: ``request.cookies`` merges every Cookie header, and
    ``request.headers.get`` gives the first value."""
    fast_path = VerifyFastPath(stack, services=services)
    status, _ = ask(
        fast_path,
        ("x-original-url", "http://app.localhost/a"),
        ("cookie", "theme=dark"),
        ("x-original-url", "http://other.localhost/a"),
        ("cookie", f"{SESSION_COOKIE}={token}; lang=fr"),
    )
    assert status == 200
    status, _ = ask(
        fast_path,
        ("x-original-url", "http://other.localhost/a"),
        ("x-original-url", "http://app.localhost/a"),
        ("cookie", f"{SESSION_COOKIE}={token}"),
    )
    assert status == PASSED_ON


def test_parsed_urls_are_kept_bounded_and_each_its_own() -> None:
    parsed = gate._parsed_original
    assert parsed.cache_info().maxsize == MAX_CACHED_URLS
    for index in range(MAX_CACHED_URLS + 10):
        url = f"https://app.localhost/{index}?q={index}"
        assert parsed("GET", url) == parse_original("GET", url)
    assert parsed.cache_info().currsize == MAX_CACHED_URLS
    assert parsed("POST", "https://app.localhost/1?q=1").method == "POST"


def test_a_bad_url_is_refused_every_time() -> None:
    parsed = gate._parsed_original
    for _ in range(2):
        with pytest.raises(BadOriginalRequest):
            parsed("GET", "https://app.localhost:99999/")
