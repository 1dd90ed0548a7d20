"""The console's main task in Chromium, from the first administrator to the audit trail.

First administrator set-up → a passkey on their account page (CDP virtual authenticator) →
sign-in with it → the console → create a user → require MFA for their role → that user signs in
elsewhere (and is reminded to enrol) → the administrator ends the user's session → the user is
signed out → the audit trail shows it all.
Services are built with the real hash-chained audit trail, which the audit page reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from quivive.composition import Services
from support.quivive import live_quivive
from support.virtual_authenticator import NO_AUTOFILL, VIRTUAL_AUTHENTICATOR

PASSWORD = "correct horse battery staple 42"
NURSE_PASSWORD = "tisane de camomille 2026 bleue"


@dataclass
class Site:
    url: str
    services: Services


@pytest.fixture
def browser_locale() -> str:
    return "en-GB"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with live_quivive(tmp_path) as (url, services):
        yield Site(url, services)


def _first_admin(page: Page, site: Site) -> None:
    link = site.services.first_admin.issue_link()
    assert link is not None
    page.goto(link)
    page.locator("#username").fill("camille")
    page.locator("#display_name").fill("Camille Roux")
    page.locator("#password").fill(PASSWORD)
    page.locator("#password_confirm").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/login"))


def _password_sign_in(page: Page, site: Site, username: str, password: str) -> None:
    page.goto(site.url + "/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()
    expect(page).to_have_url(site.url + "/account")


def _enrol_passkey_and_sign_in_with_it(page: Page, site: Site) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added: dict[str, Any] = cdp.send(
        "WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR}
    )
    assert added["authenticatorId"]
    page.locator("a[href='/account/passkeys']").click()
    page.locator("#passkey-name").fill("Clé du service informatique")
    page.locator("#add-passkey").click()
    page.wait_for_url(re.compile(r"notice=added|second-factor"))
    page.context.clear_cookies()
    page.goto(site.url + "/login")
    page.locator("#passkey-sign-in").click()
    expect(page).to_have_url(site.url + "/account")
    expect(page.locator("#amr")).to_have_text("hwk, user, mfa")


def test_first_admin_creates_a_user_then_ends_their_session(
    chromium: Browser, page: Page, site: Site
) -> None:
    page.add_init_script(NO_AUTOFILL)
    _first_admin(page, site)
    _password_sign_in(page, site, "camille", PASSWORD)

    page.goto(site.url + "/admin")  # a password sign-in is not enough for the console
    expect(page.locator("#refused")).to_contain_text("passkey")

    page.goto(site.url + "/account")
    _enrol_passkey_and_sign_in_with_it(page, site)
    page.goto(site.url + "/admin")
    expect(page.locator("h1")).to_have_text("Dashboard")

    page.locator("nav.admin a[href='/admin/users']").click()
    page.locator("a[href='/admin/users/new']").click()
    page.locator("#username").fill("nina.petit")
    page.locator("#display_name").fill("Nina Petit")
    page.locator("#roles").fill("nurse")
    page.locator("#password").fill(NURSE_PASSWORD)
    page.locator("form[action='/admin/users'] button[type=submit]").click()
    expect(page.locator("#notice")).to_have_text("The user was created.")
    nina_page = page.url.split("?")[0]

    page.locator("nav.admin a[href='/admin/policies']").click()
    page.locator("#role").fill("nurse")
    page.locator("#grace_days").fill("30")
    page.locator("#save-rule").click()
    expect(page.locator("#mfa-rules")).to_contain_text("Role nurse: a second factor is required")

    nurse_context = chromium.new_context(locale="en-GB")
    nurse = nurse_context.new_page()
    nurse.goto(site.url + "/login")
    nurse.locator("#username").fill("nina.petit")
    nurse.locator("#password").fill(NURSE_PASSWORD)
    nurse.locator("form[action='/login'] button[type=submit]").click()
    nurse.wait_for_url(re.compile(r"/login/mfa-nudge"))  # the new rule's grace period

    page.goto(nina_page)
    expect(page.locator("#sessions tbody tr")).to_have_count(1)
    page.locator("#sessions input[name=confirm]").check()  # ending a session is confirmed
    page.locator("#sessions button").click()
    expect(page.locator("#notice")).to_have_text("The session was ended.")
    expect(page.locator("#no-session")).to_be_visible()

    nurse.goto(site.url + "/account")
    expect(nurse).to_have_url(re.compile(r"/login\?next="))
    nurse_context.close()

    page.goto(site.url + "/admin/audit?subject=nina.petit")
    rows = page.locator("#audit tbody tr")
    expect(rows.first).to_contain_text("session.revoked")
    expect(rows.first).to_contain_text("camille")
    expect(page.locator("#audit")).to_contain_text("user.created")
    expect(page.locator("#audit")).to_contain_text("login.password")
    page.goto(site.url + "/admin/audit?action=policy.changed")
    expect(page.locator("#audit tbody tr").first).to_contain_text("role:nurse")
