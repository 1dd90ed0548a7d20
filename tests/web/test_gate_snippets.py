"""The proxy snippets the console hands out: the guide quotes them, and nginx runs them.

``domain.gate_snippets`` is the one source: the console shows its output for each rule (checked
in test_admin_apps_console), docs/nginx holds its include files, docs/gate.md quotes its examples,
and here Debian's nginx runs a generated server block in front of an application whose rule was
added while everything was running.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from quivive.domain.gate import GateRule
from quivive.domain.gate_snippets import (
    PROTECT_DIRECTIVES,
    VERIFY_LOCATION,
    ProxySetup,
    caddy,
    nginx_site,
    traefik,
)
from quivive.services.mfa import Origin
from support.gate_proxy import World, protected_world, sign_in
from support.nginx import DOCS, NGINX, run_nginx
from support.services import require_service

SAMPLE = GateRule(host="dpi.hopital.example")  # the guide's example application
PORTAL = GateRule(host="portal.localhost", bypass=("/health",))


def test_the_include_files_and_the_guide_are_the_generated_text() -> None:
    guide = (DOCS / "gate.md").read_text()

    assert (DOCS / "nginx" / "quivive-verify.conf").read_text() == VERIFY_LOCATION
    assert (DOCS / "nginx" / "quivive-protect.conf").read_text() == PROTECT_DIRECTIVES
    for snippet in (nginx_site(SAMPLE), traefik(SAMPLE), caddy(SAMPLE)):
        assert snippet in guide, snippet


def test_paths_and_wildcards() -> None:
    rule = GateRule(host="*.intranet.hopital.example", path_prefix="/admin")

    assert "server_name *.intranet.hopital.example;" in nginx_site(rule)
    assert "location ^~ /admin {" in nginx_site(rule)
    assert "ssl_certificate     /etc/ssl/intranet.hopital.example.pem;" in nginx_site(rule)
    plain = nginx_site(rule, ProxySetup(listen="80"))
    assert "ssl_certificate" not in plain
    assert r"HostRegexp(`^.+\\.intranet\\.hopital\\.example$`) && PathPrefix(`/admin`)" in (
        traefik(rule)
    )
    assert "\tforward_auth /admin* 127.0.0.1:8080 {" in caddy(rule)


@contextmanager
def generated_nginx(prefix: Path, quivive_port: int, app_port: int) -> Iterator[int]:
    """nginx running exactly what the console shows for PORTAL, pointed at this test's ports."""

    def servers(port: int) -> str:
        setup = ProxySetup(
            quivive=f"127.0.0.1:{quivive_port}",
            application=f"127.0.0.1:{app_port}",
            listen=f"127.0.0.1:{port}",
            snippets=str(prefix),
        )
        return nginx_site(PORTAL, setup)

    with run_nginx(prefix, servers) as port:
        yield port


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    if not Path(NGINX).exists():
        require_service("nginx", False, f"{NGINX} not found (scripts/install-system-deps.sh)")
    with protected_world(tmp_path, generated_nginx) as built:
        yield built


def test_the_generated_nginx_site_protects_a_host_ruled_at_run_time(world: World) -> None:
    portal = world.app_url.replace("app.localhost", "portal.localhost")
    assert world.browser.get(f"{portal}/dossier").status_code == 403  # no rule yet: refused

    world.services.gate_rules.add(
        {"host": "portal.localhost", "bypass": ["/health"]}, actor="root", origin=Origin()
    )

    assert world.browser.get(f"{portal}/health").json()["remote"] == {}
    assert world.browser.get(f"{portal}/dossier").status_code == 302  # to Quivive's sign-in
    body = sign_in(world, f"{portal}/dossier?x=1").json()
    assert (body["path"], body["query"]) == ("/dossier", "x=1")
    assert body["remote"]["remote-user"] == "alice"
    forged = world.browser.get(f"{portal}/dossier", headers={"remote-user": "admin"}).json()
    assert forged["remote"]["remote-user"] == "alice"
