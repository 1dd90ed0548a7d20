"""A real nginx (Debian's) in front of an application, with Quivive as its auth_request gate.

nginx includes the very snippets of ``docs/nginx/`` that docs/gate.md tells people to copy (and
docs/gate.md must quote them unchanged). A browser is played by httpx: see support.gate_proxy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from quivive.protocols import totp
from support.gate_proxy import PASSWORD, World, protected_world, sign_in
from support.nginx import DOCS, NGINX, SNIPPETS, run_nginx
from support.services import require_service

SERVER = """
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
"""


@contextmanager
def nginx(prefix: Path, quivive_port: int, app_port: int) -> Iterator[int]:
    """Debian's nginx in front of the application, including the docs' snippets."""

    def servers(port: int) -> str:
        return SERVER.format(prefix=prefix, port=port, quivive_port=quivive_port, app_port=app_port)

    with run_nginx(prefix, servers) as port:
        yield port


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    if not Path(NGINX).exists():
        require_service("nginx", False, f"{NGINX} not found (scripts/install-system-deps.sh)")
    with protected_world(tmp_path, nginx) as built:
        yield built


def test_the_documentation_quotes_the_tested_snippets() -> None:
    guide = (DOCS / "gate.md").read_text()
    for snippet in SNIPPETS:
        assert (DOCS / "nginx" / snippet).read_text() in guide, snippet


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
