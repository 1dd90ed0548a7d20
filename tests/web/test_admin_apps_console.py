"""The console's applications and gate rules pages: every action, refusals, roles, snippets."""

from __future__ import annotations

import html
import re

import pytest
from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.domain.clients import hash_secret
from quivive.domain.gate import GateRule
from quivive.domain.gate_snippets import nginx_site
from quivive.web.admin_app_pages import proxy_setup
from quivive.web.app import create_app
from support.admin_console import add_user, csrf_token, sign_in_as
from support.quivive import RecordingAudit

NEW_APP = {
    "kind": "confidential",
    "name": "Dossier patient",
    "redirect_uris": "https://dpi.hopital.example/cb\nhttps://dpi.hopital.example/cb2",
    "grant_authorization_code": "yes",
    "grant_refresh_token": "yes",
    "scope_openid": "yes",
    "scope_profile": "yes",
    "signing_alg": "RS256",
    "auth_method": "client_secret_basic",
}


@pytest.fixture(autouse=True)
def english(client: TestClient) -> None:
    client.headers["accept-language"] = "en"


@pytest.fixture
def admin(client: TestClient, sqlite_services: Services) -> TestClient:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "root", "admin"))
    return client


def _post(client: TestClient, page: str, action: str, **fields: str) -> object:
    token = csrf_token(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **fields}, follow_redirects=False)


def _pre(page: str, key: str) -> str:
    found = re.search(rf'<pre class="snippet" id="snippet-{key}"[^>]*>(.*?)</pre>', page, re.S)
    assert found, f"no {key} snippet"
    return html.unescape(found[1])


def _secret(page: str) -> str:
    found = re.search(r'<code id="client-secret">([^<]+)</code>', page)
    assert found, "no secret on the page"
    return html.unescape(found[1])


# --- applications -----------------------------------------------------------------------------


def test_register_shows_the_secret_once_with_the_configuration(
    admin: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    response = _post(admin, "/admin/apps/new", "/admin/apps", **NEW_APP)

    assert response.status_code == 200  # type: ignore[attr-defined]
    page = response.text  # type: ignore[attr-defined]
    assert response.headers["cache-control"] == "no-store"  # type: ignore[attr-defined]
    secret = _secret(page)
    [client] = sqlite_services.oidc.clients.list()
    assert client.secret_hash == hash_secret(secret)
    generic = _pre(page, "generic")
    assert "http://localhost:8080/.well-known/openid-configuration" in generic
    assert client.client_id in generic
    assert secret in generic
    assert "https://dpi.hopital.example/cb https://dpi.hopital.example/cb2" in generic
    assert f'client_id = "{client.client_id}"' in _pre(page, "oauth2_proxy")
    assert f"OIDCClientSecret {secret}" in _pre(page, "mod_auth_openidc")
    event = audit.events[-1]
    assert (event.action, event.actor, event.subject) == ("client.added", "root", client.client_id)

    again = admin.get(f"/admin/apps/{client.client_id}").text
    assert secret not in again  # never shown again
    assert 'id="client-secret"' not in again
    assert client.client_id in _pre(again, "generic")
    assert client.name in admin.get("/admin/apps").text


@pytest.mark.parametrize(
    ("changes", "language", "words"),
    [
        ({"redirect_uris": "http://dpi.hopital.example/cb"}, "en", "must be a complete address"),
        ({"redirect_uris": "https://x.example/#frag"}, "fr", "adresse complète"),
        ({"redirect_uris": ""}, "en", "needs at least one"),
        ({"scope_everything": "yes", "name": ""}, "en", "name of 1 to 200"),
        ({"auth_method": "magic"}, "fr", "méthodes proposées"),
        ({"auth_method": "private_key_jwt", "jwks": "nope"}, "en", "JWKS JSON"),
    ],
)
def test_refusals_are_explained_in_plain_words(
    admin: TestClient,
    sqlite_services: Services,
    changes: dict[str, str],
    language: str,
    words: str,
) -> None:
    admin.headers["accept-language"] = language
    response = _post(admin, "/admin/apps/new", "/admin/apps", **{**NEW_APP, **changes})

    assert response.status_code == 400  # type: ignore[attr-defined]
    assert words in html.unescape(response.text)  # type: ignore[attr-defined]
    assert sqlite_services.oidc.clients.list() == []


def test_an_unknown_grant_and_a_duplicate_name_are_refused(
    admin: TestClient, sqlite_services: Services
) -> None:
    _post(admin, "/admin/apps/new", "/admin/apps", **NEW_APP)
    duplicate = _post(admin, "/admin/apps/new", "/admin/apps", **NEW_APP)
    public_service = _post(
        admin,
        "/admin/apps/new",
        "/admin/apps",
        **{**NEW_APP, "name": "Script", "kind": "public", "grant_client_credentials": "yes"},
    )

    assert duplicate.status_code == 400  # type: ignore[attr-defined]
    assert "Another application already has this name" in duplicate.text  # type: ignore[attr-defined]
    assert public_service.status_code == 400  # type: ignore[attr-defined]
    assert "cannot use client credentials" in public_service.text  # type: ignore[attr-defined]
    assert len(sqlite_services.oidc.clients.list()) == 1


def test_edit_rotate_and_remove(
    admin: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    created = _post(admin, "/admin/apps/new", "/admin/apps", **NEW_APP)
    first_secret = _secret(created.text)  # type: ignore[attr-defined]
    [client] = sqlite_services.oidc.clients.list()
    page = f"/admin/apps/{client.client_id}"

    edited = _post(
        admin, page, f"{page}/edit", **{**NEW_APP, "redirect_uris": "https://new.example/cb"}
    )
    assert edited.headers["location"] == f"{page}?notice=updated"  # type: ignore[attr-defined]
    assert sqlite_services.oidc.clients.existing(client.client_id).redirect_uris == (
        "https://new.example/cb",
    )
    unconfirmed = _post(admin, page, f"{page}/rotate")
    assert "confirm_required" in unconfirmed.headers["location"]  # type: ignore[attr-defined]

    rotated = _post(admin, page, f"{page}/rotate", confirm="yes")
    second_secret = _secret(rotated.text)  # type: ignore[attr-defined]
    assert second_secret != first_secret
    stored = sqlite_services.oidc.clients.existing(client.client_id)
    assert stored.secret_hash == hash_secret(second_secret)
    assert second_secret not in admin.get(page).text

    assert "confirm_required" in _post(admin, page, f"{page}/remove").headers["location"]  # type: ignore[attr-defined]
    removed = _post(admin, page, f"{page}/remove", confirm="yes")
    assert removed.headers["location"] == "/admin/apps?notice=removed"  # type: ignore[attr-defined]
    assert sqlite_services.oidc.clients.list() == []
    assert admin.get(page).status_code == 404
    actions = [(e.action, e.actor) for e in audit.events if e.subject == client.client_id]
    assert actions == [
        ("client.added", "root"),
        ("client.updated", "root"),
        ("client.secret_rotated", "root"),
        ("client.removed", "root"),
    ]


@pytest.mark.parametrize("token", [None, "forged"])
def test_changes_need_the_csrf_token(
    admin: TestClient, sqlite_services: Services, token: str | None
) -> None:
    """Refused by the CSRF check itself (a 403 and its message), not by a form error."""
    admin.get("/admin/apps/new")  # a form was served: the CSRF cookie exists
    extra = {} if token is None else {"csrf_token": token}
    app = admin.post("/admin/apps", data={**NEW_APP, **extra}, follow_redirects=False)
    rule_form = {"host": "a.example", "min_aal": "1", **extra}
    rule = admin.post("/admin/rules", data=rule_form, follow_redirects=False)

    for response in (app, rule):
        assert response.status_code == 403
        assert "Your form expired or came from another site." in response.text
    assert sqlite_services.oidc.clients.list() == []
    assert sqlite_services.gate_rules.in_force() == []


# --- gate rules -------------------------------------------------------------------------------


def test_a_rule_added_in_the_console_applies_in_the_gate_at_once(
    admin: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    verify = {"x-original-url": "http://wiki.localhost/page"}
    # The proxy's side: another client on the loopback, with the administrator's cookie.
    proxy = TestClient(create_app(sqlite_services), client=("127.0.0.1", 50000))
    proxy.cookies.update(admin.cookies)
    assert proxy.get("/api/verify", headers=verify).status_code == 403  # no rule: denied

    created = _post(admin, "/admin/rules/new", "/admin/rules", host="wiki.localhost", min_aal="1")

    location = created.headers["location"]  # type: ignore[attr-defined]
    assert location.endswith("?notice=rule_created")
    assert proxy.get("/api/verify", headers=verify).status_code == 200  # no restart
    page = admin.get(location).text
    assert "applies at once on every server" in page
    rule = GateRule(host="wiki.localhost")
    web_setup = proxy_setup(admin.app.state.quivive)  # type: ignore[attr-defined]
    assert _pre(page, "nginx") == nginx_site(rule, web_setup)
    assert "forwardAuth" in _pre(page, "traefik")
    assert "forward_auth 127.0.0.1:8080" in _pre(page, "caddy")
    event = audit.events[-1]
    assert (event.action, event.actor, event.subject) == (
        "gate_rule.added",
        "root",
        "wiki.localhost/",
    )

    rule_page = location.split("?")[0]
    _post(
        admin, rule_page, f"{rule_page}/edit", host="wiki.localhost", roles="medecin", min_aal="1"
    )
    assert proxy.get("/api/verify", headers=verify).status_code == 403  # root lacks the role
    _post(admin, rule_page, f"{rule_page}/remove", confirm="yes")
    assert proxy.get("/api/verify", headers=verify).status_code == 403
    assert sqlite_services.gate_rules.in_force() == []


@pytest.mark.parametrize(
    ("fields", "language", "words"),
    [
        ({"host": "not a host"}, "en", "must be a domain name"),
        ({"host": "a.example", "min_aal": "4"}, "fr", "Le niveau doit être"),
        ({"host": "a.example", "networks": "10.0.0.300/8"}, "en", "address ranges"),
        ({"host": "a.example", "deny_outside_networks": "yes"}, "en", "needs the establishment"),
        ({"host": "a.example", "path_prefix": "admin"}, "fr", "doit commencer par /"),
    ],
)
def test_bad_rules_are_explained(
    admin: TestClient,
    sqlite_services: Services,
    fields: dict[str, str],
    language: str,
    words: str,
) -> None:
    admin.headers["accept-language"] = language
    response = _post(admin, "/admin/rules/new", "/admin/rules", **{"min_aal": "1", **fields})

    assert response.status_code == 400  # type: ignore[attr-defined]
    assert words in html.unescape(response.text)  # type: ignore[attr-defined]
    assert sqlite_services.gate_rules.in_force() == []


def test_a_duplicate_rule_is_refused(admin: TestClient) -> None:
    _post(admin, "/admin/rules/new", "/admin/rules", host="a.example", path_prefix="/x")

    response = _post(admin, "/admin/rules/new", "/admin/rules", host="a.example", path_prefix="/x/")

    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "already exists" in response.text  # type: ignore[attr-defined]


# --- roles ------------------------------------------------------------------------------------


def test_the_auditor_reads_without_forms_and_is_refused_changes(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    from quivive.services.mfa import Origin

    sqlite_services.gate_rules.add({"host": "a.example"}, actor="test", origin=Origin())
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "reader", "auditor"))

    listing = client.get("/admin/rules")
    assert listing.status_code == 200
    assert 'id="new-rule"' not in listing.text
    assert 'href="/admin/apps"' in client.get("/admin").text
    token = csrf_token(client.get("/admin/audit").text)  # a page with a form for auditors
    refused = client.post(
        "/admin/apps", data={"csrf_token": token, **NEW_APP}, follow_redirects=False
    )
    refused_rule = client.post(
        "/admin/rules", data={"csrf_token": token, "host": "b.example"}, follow_redirects=False
    )

    assert refused.status_code == 403
    assert refused_rule.status_code == 403
    assert client.get("/admin/apps/new").status_code == 403
    assert sqlite_services.oidc.clients.list() == []
    reasons = [e.reason for e in audit.events if e.action == "admin.forbidden"]
    assert reasons == ["apps.manage"] * 3


def test_the_helpdesk_sees_no_applications(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit
) -> None:
    sign_in_as(client, sqlite_services, add_user(sqlite_services, "desk", "helpdesk"))

    assert 'href="/admin/apps"' not in client.get("/admin").text
    assert client.get("/admin/apps").status_code == 403
    assert client.get("/admin/rules").status_code == 403
    reasons = [e.reason for e in audit.events if e.action == "admin.forbidden"]
    assert reasons == ["apps.view", "apps.view"]


def test_french_pages(admin: TestClient) -> None:
    admin.headers["accept-language"] = "fr"

    assert "Applications (OpenID Connect)" in admin.get("/admin/apps").text
    assert "Règles de la passerelle" in admin.get("/admin/rules").text


def test_file_rules_are_read_only_with_their_snippets(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from support.quivive import running_services

    config = tmp_path_factory.mktemp("conf") / "quivive.toml"
    config.write_text('[[gate.rules]]\nhost = "dpi.hopital.example"\nmin_aal = 2\n')
    settings = {"config": str(config)}
    directory = tmp_path_factory.mktemp("file")
    with (
        running_services(directory, settings=settings) as services,
        TestClient(create_app(services), base_url="http://localhost:8080") as client,
    ):
        client.headers["accept-language"] = "en"
        sign_in_as(client, services, add_user(services, "root", "admin"))
        listing = client.get("/admin/rules").text
        page = client.get("/admin/rules/file/1").text
        form = client.get("/admin/rules/new?from=1").text

        assert 'href="/admin/rules/file/1"' in listing
        assert "configuration file" in listing
        assert "server_name dpi.hopital.example;" in _pre(page, "nginx")
        assert 'action="/admin/rules/' not in page  # nothing to edit here
        assert 'value="dpi.hopital.example"' in form  # "replace here" starts from it
        assert client.get("/admin/rules/file/2").status_code == 404
