"""A managed user's enrolment in Chromium, in their own browser: the administrator sends a set-up
link from the console → the user opens it, chooses a password, signs in and enrols a passkey
(CDP virtual authenticator), then signs in with it → the administrator ends their sessions → the
user is signed out → the audit trail shows it all.

The administrator's passkey session is started through the services (their own enrolment is the
other console test); the real hash-chained audit trail backs the audit page.
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
from quivive.domain.sessions import AssuranceLevel
from quivive.services.accounts import NewAccount
from support.quivive import live_quivive
from support.virtual_authenticator import NO_AUTOFILL, VIRTUAL_AUTHENTICATOR

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


def _admin_signed_in(page: Page, site: Site) -> None:
    root = site.services.accounts.create(NewAccount("camille", roles=["admin"]), actor="test")
    token = site.services.sessions.start(
        root,
        amr=("hwk", "user", "mfa"),
        aal=AssuranceLevel.AAL3,
        source_address="127.0.0.1",
        user_agent="admin browser",
    )
    page.context.add_cookies([{"name": "quivive_session", "value": token, "url": site.url}])


def _user_sets_password_and_enrols_a_passkey(user: Page, link: str, site: Site) -> None:
    cdp = user.context.new_cdp_session(user)
    cdp.send("WebAuthn.enable")
    added: dict[str, Any] = cdp.send(
        "WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR}
    )
    assert added["authenticatorId"]
    user.goto(link)
    user.locator("#password").fill(NURSE_PASSWORD)
    user.locator("#password_confirm").fill(NURSE_PASSWORD)
    user.locator("#set-password").click()
    expect(user.locator("#enrol-done")).to_contain_text("nina.petit")
    user.locator("#sign-in").click()
    user.locator("#username").fill("nina.petit")
    user.locator("#password").fill(NURSE_PASSWORD)
    user.locator("form[action='/login'] button[type=submit]").click()
    expect(user).to_have_url(site.url + "/account")
    user.locator("a[href='/account/passkeys']").click()
    user.locator("#passkey-name").fill("Poste infirmier")
    user.locator("#add-passkey").click()
    user.wait_for_url(re.compile(r"notice=added|second-factor"))
    # A new browser on the same device: the password session stays until the administrator acts.
    user.context.clear_cookies()
    user.goto(site.url + "/login")
    user.locator("#passkey-sign-in").click()
    expect(user).to_have_url(site.url + "/account")
    expect(user.locator("#amr")).to_have_text("hwk, user, mfa")


def test_user_enrols_a_passkey_then_the_admin_ends_their_sessions(
    chromium: Browser, page: Page, site: Site
) -> None:
    nina = site.services.accounts.create(
        NewAccount("nina.petit", display_name="Nina Petit", roles=["nurse"]), actor="test"
    )
    _admin_signed_in(page, site)
    page.goto(f"{site.url}/admin/users/{nina.id}")
    page.locator("#send-enrolment-link").click()
    link = page.locator("#link").input_value()
    assert link.startswith(site.url + "/enrol/")

    user_context = chromium.new_context(locale="en-GB")
    user_context.add_init_script(NO_AUTOFILL)
    user = user_context.new_page()
    _user_sets_password_and_enrols_a_passkey(user, link, site)

    page.goto(f"{site.url}/admin/users/{nina.id}")
    expect(page.locator("#credentials")).to_contain_text("Poste infirmier")
    expect(page.locator("#sessions tbody tr")).to_have_count(2)  # the password one, the passkey
    expect(page.locator("#sessions")).to_contain_text("hwk, user, mfa")
    page.locator("#confirm-revoke-all").check()
    page.locator("#revoke-all").click()
    expect(page.locator("#notice")).to_have_text("All the user's sessions were ended.")

    user.goto(site.url + "/account")
    expect(user).to_have_url(re.compile(r"/login\?next="))
    user_context.close()

    page.goto(site.url + "/admin/audit?subject=nina.petit")
    audit = page.locator("#audit")
    expect(page.locator("#audit tbody tr").first).to_contain_text("session.revoked")
    for action in (
        "admin.enrolment_link_sent",
        "user.enrolment_link_used",
        "password.changed",
        "login.password",
        "factor.added",
        "login.passkey",
    ):
        expect(audit).to_contain_text(action)
