"""The admin API's interactive docs page: Swagger UI from our own origin, under the strict CSP."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from quivive.web.security_headers import CONTENT_SECURITY_POLICY

API = "/api/admin/v1"


def _script_src(csp: str) -> str:
    return next(part for part in csp.split(";") if part.strip().startswith("script-src"))


def test_the_page_loads_only_our_own_scripts_under_the_strict_csp(client: TestClient) -> None:
    docs = client.get(f"{API}/docs")

    assert docs.status_code == 200
    assert docs.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in _script_src(docs.headers["content-security-policy"])
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", docs.text, re.S)
    assert [body for _, body in scripts if body.strip()] == []  # no inline script
    sources = [re.search(r'src="([^"]+)"', attrs)[1] for attrs, _ in scripts]  # type: ignore[index]
    assert sources == [f"{API}/docs/assets/swagger-ui-bundle.js", "/static/admin_api_docs.js"]
    assert 'data-schema-url="/api/admin/v1/openapi.json"' in docs.text
    assert 'data-csrf-url="/api/admin/v1/csrf-token"' in docs.text


def test_its_assets_are_served_with_the_strict_csp(client: TestClient) -> None:
    for url, media in (
        (f"{API}/docs/assets/swagger-ui-bundle.js", "text/javascript"),
        (f"{API}/docs/assets/swagger-ui.css", "text/css"),
        ("/static/admin_api_docs.js", "text/javascript"),
    ):
        response = client.get(url)

        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith(media), url
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, url
        assert response.headers["x-content-type-options"] == "nosniff", url


def test_only_the_pages_own_assets_are_served(client: TestClient) -> None:
    # The package also holds ReDoc, a favicon and its Python code: not served.
    for name in ("redoc.standalone.js", "favicon.png", "..%2Fcore.py", "index.html"):
        response = client.get(f"{API}/docs/assets/{name}")

        assert response.status_code == 404, name
        assert response.json()["error"] == "not_found"


def test_the_schema_declares_bearer_and_session_authentication(client: TestClient) -> None:
    schema = client.get(f"{API}/openapi.json").json()

    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["session"]["in"] == "cookie"
    assert schemes["session"]["name"] == "quivive_session"
    assert schema["security"] == [{"bearer": []}, {"session": []}]
    assert client.get(f"{API}/openapi.json").json() == schema  # built once, not re-declared
