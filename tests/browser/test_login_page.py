"""The sign-in pages in a real Chromium: first-administrator set-up, keyboard use, no JavaScript."""

# French typography writes the apostrophe as U+2019, as the catalogue does.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from quivive.composition import Services
from quivive.services.accounts import NewAccount
from quivive.web.app import create_app
from support.live_server import LateApp, LiveServer
from support.quivive import running_services

PASSWORD = "un été au bord du Lot 1987"


@dataclass(frozen=True)
class Quivive:
    url: str
    services: Services


@pytest.fixture
def quivive(tmp_path: Path) -> Iterator[Quivive]:
    late = LateApp()
    # lifespan off: the test owns the services and closes them itself.
    with (
        LiveServer(late, lifespan="off") as server,
        running_services(tmp_path, settings={"public_url": server.url}) as services,
    ):
        late.app = create_app(services)
        yield Quivive(server.url, services)


@pytest.fixture
def alice(quivive: Quivive) -> str:
    quivive.services.accounts.create(
        NewAccount("alice", PASSWORD, display_name="Alice Martin"), actor="test"
    )
    return "alice"


def test_first_admin_sets_up_then_signs_in_and_out_with_the_keyboard(
    page: Page, quivive: Quivive
) -> None:
    link = quivive.services.first_admin.issue_link()
    assert link is not None

    page.goto(link)
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text("Créer le premier administrateur")
    page.get_by_label("Identifiant").fill("claire.dupont")
    page.get_by_label("Nom complet").fill("Claire Dupont")
    page.get_by_label("E-mail (pour les alertes de sécurité)").fill("claire@hopital.example")
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_label("Confirmez le mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Créer l’administrateur").click()

    expect(page).to_have_url(quivive.url + "/login?notice=setup_done")
    expect(page.get_by_role("status")).to_have_text(
        "Le compte administrateur est prêt. Vous pouvez maintenant vous connecter."
    )

    # Keyboard only: the username has focus, Tab goes username -> password -> submit.
    username, password = page.locator("#username"), page.locator("#password")
    submit = page.get_by_role("button", name="Se connecter", exact=True)
    expect(username).to_be_focused()
    page.keyboard.type("claire.dupont")
    page.keyboard.press("Tab")
    expect(password).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    expect(submit).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(password).to_be_focused()
    page.keyboard.press("Enter")  # implicit submission from the password field

    expect(page).to_have_url(quivive.url + "/account")
    expect(page.locator("#username")).to_have_text("claire.dupont")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Claire Dupont")

    page.get_by_role("button", name="Se déconnecter").click()

    expect(page).to_have_url(quivive.url + "/login?notice=signed_out")
    expect(page.get_by_role("status")).to_have_text("Vous êtes déconnecté.")
    page.goto(quivive.url + "/account")
    expect(page).to_have_url(re.compile(re.escape(quivive.url) + r"/login\?next="))


@pytest.mark.usefixtures("alice")
def test_login_form_works_without_javascript(chromium: Browser, quivive: Quivive) -> None:
    context = chromium.new_context(java_script_enabled=False, locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(quivive.url + "/login")
        page.get_by_label("Identifiant").fill("alice")
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter", exact=True).click()

        expect(page).to_have_url(quivive.url + "/account")
        expect(page.locator("#username")).to_have_text("alice")
    finally:
        context.close()


def test_labels_are_associated_with_their_inputs(page: Page, quivive: Quivive) -> None:
    page.goto(quivive.url + "/login")

    expect(page.get_by_label("Identifiant")).to_have_attribute(
        "autocomplete", re.compile(r"^username\b")
    )
    expect(page.get_by_label("Identifiant")).to_have_attribute("name", "username")
    expect(page.get_by_label("Mot de passe")).to_have_attribute("type", "password")
    expect(page.get_by_label("Mot de passe")).to_have_attribute("autocomplete", "current-password")


@pytest.mark.usefixtures("alice")
def test_wrong_password_is_announced_and_the_username_kept(page: Page, quivive: Quivive) -> None:
    page.goto(quivive.url + "/login")
    page.get_by_label("Identifiant").fill("alice")
    page.get_by_label("Mot de passe").fill("not the password")
    page.get_by_role("button", name="Se connecter", exact=True).click()

    expect(page.get_by_role("alert")).to_have_text("Identifiant ou mot de passe incorrect.")
    expect(page.get_by_label("Identifiant")).to_have_value("alice")
    expect(page.get_by_label("Identifiant")).to_have_attribute("aria-describedby", "login-error")
    expect(page.get_by_label("Mot de passe")).to_have_value("")


def test_language_switch_keeps_the_page(page: Page, quivive: Quivive) -> None:
    page.goto(quivive.url + "/login")

    page.get_by_role("link", name="English").click()

    expect(page).to_have_url(quivive.url + "/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_label("Username")).to_be_visible()
