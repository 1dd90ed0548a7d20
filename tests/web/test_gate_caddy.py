"""Debian's Caddy in front of an application, with Quivive as its forward_auth gate.

Caddy runs the very ``forward_auth`` snippet of docs/gate.md (hosts and ports substituted), in
redirect mode: a 302 to Quivive's sign-in page, the identity copied into the request upstream.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from support.gate_proxy import World, free_port, protected_world, sign_in, wait_for_port
from support.services import require_service

CADDY = "/usr/bin/caddy"
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "gate.md"
GLOBAL_OPTIONS = "{\n\tadmin off\n\tauto_https off\n}\n"


def caddyfile(port: int, quivive_port: int, app_port: int) -> str:
    """The guide's Caddyfile snippet, pointed at this test's hosts and ports."""
    snippet = re.search(r"```caddyfile\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert snippet, "no caddyfile snippet in docs/gate.md"
    site = snippet[1]
    for old, new in (
        ("dpi.hopital.example {", f"http://app.localhost:{port} {{\n\tbind 127.0.0.1"),
        ("127.0.0.1:8080", f"127.0.0.1:{quivive_port}"),
        ("10.0.5.20:8000", f"127.0.0.1:{app_port}"),
    ):
        assert old in site
        site = site.replace(old, new)
    return GLOBAL_OPTIONS + site


@contextmanager
def caddy(prefix: Path, quivive_port: int, app_port: int) -> Iterator[int]:
    prefix.mkdir()
    port = free_port()
    config = prefix / "Caddyfile"
    config.write_text(caddyfile(port, quivive_port, app_port))
    home = {name: str(prefix) for name in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")}
    log = prefix / "caddy.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [CADDY, "run", "--config", str(config), "--adapter", "caddyfile"],
            env={**os.environ, **home},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, lambda: process.poll() is None, lambda: log.read_text())
            yield port
        finally:
            process.terminate()
            process.wait(10)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    if not Path(CADDY).exists():
        require_service("caddy", False, f"{CADDY} not found (apt-get install caddy)")
    with protected_world(tmp_path, caddy) as built:
        yield built


def test_sign_in_then_back_with_the_identity_upstream(world: World) -> None:
    url = f"{world.app_url}/dossier/42?tab=notes"
    first = world.browser.get(url)
    assert first.status_code == 302
    assert first.headers["location"].startswith(f"{world.quivive_url}/gate/sign-in?rd=")
    body = sign_in(world, url).json()
    assert (body["path"], body["query"]) == ("/dossier/42", "tab=notes")
    remote = {name.lower(): value for name, value in body["remote"].items()}
    assert remote["remote-user"] == "alice"
    assert remote["remote-name"] == "Élise Łukasz"
    assert remote["remote-aal"] == "1"


def test_role_denied_is_quivives_403_page(world: World) -> None:
    sign_in(world, f"{world.app_url}/")
    response = world.browser.get(f"{world.app_url}/admin/", headers={"accept-language": "fr"})
    assert response.status_code == 403
    assert "Accès refusé" in response.text


def test_forged_identity_headers_do_not_reach_the_application(world: World) -> None:
    sign_in(world, f"{world.app_url}/")
    forged = {"remote-user": "admin", "remote-groups": "admin"}
    body = world.browser.get(f"{world.app_url}/x", headers=forged).json()
    remote = {name.lower(): value for name, value in body["remote"].items()}
    assert remote["remote-user"] == "alice"
    assert remote["remote-groups"] == ""


def test_sign_out_takes_effect(world: World) -> None:
    sign_in(world, f"{world.app_url}/")
    logout_url, page = world.browser.browse(f"{world.quivive_url}/logout")
    world.browser.form(logout_url, page.text, "/logout")
    response = world.browser.get(f"{world.app_url}/x")
    assert response.status_code == 302
    assert urlsplit(response.headers["location"]).path == "/gate/sign-in"


def test_public_paths_carry_empty_identity_headers_not_forged_ones(world: World) -> None:
    forged = {"remote-user": "admin", "remote-groups": "admin"}
    body = world.browser.get(f"{world.app_url}/health", headers=forged).json()
    # Caddy 2.6 would put placeholder text in headers absent from Quivive's answer: it sends them
    # empty on public paths.
    assert set(body["remote"].values()) == {""}
