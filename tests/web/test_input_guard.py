"""A NUL byte in a query parameter, a path parameter or a JSON body is a 400, never a 500.

PostgreSQL ``text`` cannot hold U+0000, so these run on both backends: before the guard, the
PostgreSQL driver raised on every one of them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.web.app import create_app
from support.admin_console import add_user, service_token, sign_in_as

API = "/api/admin/v1"
CONSOLE_URLS = [
    "/admin/users?q=%00",
    "/admin/users?role=%00",
    "/admin/audit?actor=%00",
    "/admin/audit?source=1%00",
    "/admin/users?q%00=x",
]
API_URLS = [
    f"{API}/users?q=%00",
    f"{API}/users?role=%00",
    f"{API}/audit?actor=%00",
    f"{API}/audit?source=1%00",
]


@pytest.fixture
def web(services: Services) -> Iterator[TestClient]:
    app = create_app(services)
    with TestClient(app, base_url="http://localhost:8080", raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("url", CONSOLE_URLS)
def test_console_answers_a_400_page_in_the_users_language(
    web: TestClient, services: Services, url: str
) -> None:
    sign_in_as(web, services, add_user(services, "root", "admin"))

    english = web.get(url, headers={"accept-language": "en"})
    french = web.get(url, headers={"accept-language": "fr"})

    assert english.status_code == french.status_code == 400
    assert "a character that is not allowed (a NUL byte)" in english.text
    assert "un caractère interdit (un octet NUL)" in french.text


@pytest.mark.parametrize("url", API_URLS)
def test_api_answers_a_400_json_error_for_query_strings(
    web: TestClient, services: Services, url: str
) -> None:
    bearer = {"authorization": "Bearer " + service_token(services)}

    response = web.get(url, headers=bearer)

    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "bad_form",
        "message": "parameter '" + url.split("?")[1].split("=")[0] + "' has a NUL character",
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/throttles/clear", {"target": "a\u0000b"}),
        ("/users", {"username": "a\u0000b", "roles": ["nurse"]}),
        ("/users", {"username": "nina", "roles": ["nurse\u0000"]}),
    ],
)
def test_api_answers_a_400_json_error_for_json_bodies(
    web: TestClient, services: Services, path: str, body: dict[str, object]
) -> None:
    bearer = {"authorization": "Bearer " + service_token(services)}

    response = web.post(API + path, json=body, headers=bearer)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_form"


def test_an_unexpected_api_error_is_a_json_500_and_logged(
    web: TestClient,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bearer = {"authorization": "Bearer " + service_token(services)}

    def boom(*_args: object) -> None:
        raise RuntimeError("storage fell over")

    monkeypatch.setattr(services.admin, "users", boom)

    response = web.get(f"{API}/users", headers=bearer)

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "internal_error", "message": "internal error"}
    assert "storage fell over" in caplog.text


@pytest.mark.parametrize(
    "path", ["/login", "/login/second-factor/totp", "/login/second-factor/recovery-code"]
)
def test_sign_in_posts_refuse_a_nul_before_anything_else(web: TestClient, path: str) -> None:
    # These are plain Starlette routes (web.plain_routes), outside FastAPI's dependencies: the
    # check is theirs to call. Without a form token the answer would otherwise be a 403.
    response = web.post(f"{path}?next=%00", data={}, headers={"accept-language": "en"})

    assert response.status_code == 400
    assert "a character that is not allowed (a NUL byte)" in response.text
