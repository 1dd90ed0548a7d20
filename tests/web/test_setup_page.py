"""The first administrator's one-time set-up page."""

# French typography writes the apostrophe as U+2019, as the catalogue does.
# ruff: noqa: RUF001

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import httpx2
import pytest
from starlette.testclient import TestClient

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.services.first_admin import SETUP_LINK_LIFETIME
from support.quivive import RecordingAudit

PASSWORD = "un été au bord du Lot 1987"
LINK_INVALID_FR = "Ce lien de création est inconnu, déjà utilisé ou expiré."


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match[1]


def error_items(page: str) -> list[str]:
    block = re.search(r'id="setup-errors">(.*?)</div>', page, re.DOTALL)
    assert block, "no error list on the page"
    return [html.unescape(item).strip() for item in re.findall(r"<li>(.*?)</li>", block[1])]


def heading(page: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", page, re.DOTALL)
    assert match
    return html.unescape(match[1]).strip()


@pytest.fixture
def setup_path(sqlite_services: Services) -> str:
    link = sqlite_services.first_admin.issue_link()
    assert link is not None
    assert link.startswith(sqlite_services.settings.public_url + "/setup/")
    return urlsplit(link).path


def submit(client: TestClient, path: str, **overrides: str) -> httpx2.Response:
    page = client.get(path)
    assert page.status_code == 200
    fields = {
        "csrf_token": csrf_token(page.text),
        "username": "Admin.Dupont",
        "display_name": "Claire Dupont",
        "email": "claire.dupont@hopital.example",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    return client.post(path, data={**fields, **overrides}, follow_redirects=False)


def test_setup_page_shows_the_form_in_french(client: TestClient, setup_path: str) -> None:
    response = client.get(setup_path)

    assert response.status_code == 200
    assert heading(response.text) == "Créer le premier administrateur"
    assert f'action="{setup_path}"' in response.text
    for name in ("username", "display_name", "email", "password", "password_confirm"):
        assert f'name="{name}"' in response.text
    assert "12 caractères" in response.text  # the configured minimum length is stated
    assert response.headers["cache-control"] == "no-store"


def test_setup_creates_an_admin_who_can_sign_in(
    client: TestClient, sqlite_services: Services, audit: RecordingAudit, setup_path: str
) -> None:
    response = submit(client, setup_path)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?notice=setup_done"
    admin = sqlite_services.accounts.get("admin.dupont")
    assert admin.is_admin
    assert admin.display_name == "Claire Dupont"
    assert admin.email == "claire.dupont@hopital.example"
    assert ("user.created", "success") in audit.actions()
    notice = client.get(response.headers["location"])
    assert "Le compte administrateur est prêt." in notice.text

    login = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(notice.text),
            "username": "ADMIN.dupont",
            "password": PASSWORD,
        },
        follow_redirects=False,
    )
    assert login.status_code == 303
    account = client.get("/account")
    assert '<dd id="username">admin.dupont</dd>' in account.text
    assert "admin" in account.text


def test_password_confirmation_mismatch(
    client: TestClient, sqlite_services: Services, setup_path: str
) -> None:
    response = submit(client, setup_path, password_confirm=PASSWORD + "x")

    assert response.status_code == 400
    assert error_items(response.text) == ["Les deux mots de passe sont différents."]
    assert 'value="Admin.Dupont"' in response.text  # what was typed is kept...
    assert PASSWORD not in response.text  # ...except the passwords
    assert sqlite_services.accounts.list() == []


def test_blocklisted_password_shows_its_reason_in_french(
    client: TestClient, sqlite_services: Services, setup_path: str
) -> None:
    response = submit(
        client, setup_path, password="motdepasse123", password_confirm="motdepasse123"
    )

    assert response.status_code == 400
    assert error_items(response.text) == [
        "Ce mot de passe fait partie des plus courants ou des plus divulgués : "
        "choisissez-en un autre."
    ]
    assert sqlite_services.accounts.list() == []
    # A rejected password does not burn the link.
    assert submit(client, setup_path).status_code == 303


def test_password_with_the_username_and_too_short_lists_both_reasons(
    client: TestClient, setup_path: str
) -> None:
    response = submit(client, setup_path, password="dupont", password_confirm="dupont")

    assert response.status_code == 400
    assert error_items(response.text) == [
        "Le mot de passe est trop court.",
        "Le mot de passe ne doit contenir ni votre identifiant, ni votre nom, ni votre e-mail, "
        "ni le nom de l’établissement.",
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"username": "two words"}, "L’identifiant ne doit contenir ni espaces"),
        ({"email": "not-an-address"}, "Un champ a un format invalide"),
        ({"username": ""}, "L’identifiant est vide."),
        ({"username": "   "}, "L’identifiant est vide."),
        ({"password": "", "password_confirm": ""}, "Le mot de passe est trop court."),
        ({"display_name": "x" * 257}, "Un champ est trop long"),
    ],
    ids=["space", "email", "empty-username", "blank-username", "empty-password", "long-name"],
)
def test_invalid_fields_are_explained(
    client: TestClient, setup_path: str, overrides: dict[str, str], message: str
) -> None:
    response = submit(client, setup_path, **overrides)

    assert response.status_code == 400
    assert error_items(response.text)[0].startswith(message)


def test_setup_link_works_once(client: TestClient, setup_path: str) -> None:
    assert submit(client, setup_path).status_code == 303

    page = client.get(setup_path)
    assert page.status_code == 404
    assert LINK_INVALID_FR in page.text
    again = client.post(
        setup_path,
        data={
            "csrf_token": csrf_token(client.get("/login").text),
            "username": "second",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    assert again.status_code == 404
    assert LINK_INVALID_FR in again.text


@pytest.mark.parametrize("token", ["not-a-token", "A" * 43, "x" * 300])
def test_unknown_setup_token_is_a_404_page(
    client: TestClient, sqlite_services: Services, token: str
) -> None:
    sqlite_services.first_admin.issue_link()  # a real link exists, but not this one

    response = client.get(f"/setup/{token}")

    assert response.status_code == 404
    assert heading(response.text) == "Page introuvable"
    assert LINK_INVALID_FR in response.text


def test_a_nul_byte_in_the_setup_token_is_refused_before_any_lookup(
    client: TestClient, sqlite_services: Services
) -> None:
    # PostgreSQL text cannot hold U+0000: the input guard answers before the token is looked up.
    sqlite_services.first_admin.issue_link()

    response = client.get("/setup/%00")

    assert response.status_code == 400
    assert "octet NUL" in response.text


def test_expired_setup_link_is_a_404_page(
    client: TestClient, clock: FrozenClock, setup_path: str
) -> None:
    clock.advance(SETUP_LINK_LIFETIME)

    assert client.get(setup_path).status_code == 404


def test_setup_post_needs_the_csrf_token(
    client: TestClient, sqlite_services: Services, setup_path: str
) -> None:
    client.get(setup_path)

    response = client.post(
        setup_path,
        data={"username": "mallory", "password": PASSWORD, "password_confirm": PASSWORD},
    )

    assert response.status_code == 403
    assert sqlite_services.accounts.list() == []


def test_setup_page_in_english(client: TestClient, setup_path: str) -> None:
    response = client.get(setup_path, headers={"accept-language": "en"})

    assert heading(response.text) == "Set up the first administrator"
