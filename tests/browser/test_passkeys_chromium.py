"""A real passkey in Chromium: register on the account page, sign out, sign in without a password.

Chromium's CDP virtual authenticator stands in for a platform authenticator (ctap2, internal
transport, resident keys, user verification); the page's own script drives WebAuthn, so this is
the same code path as a user's browser. The app's public URL is the live server's URL, so the
RP ID (``localhost``) and origin the server expects are the ones the browser reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import CDPSession, Page, expect

from quivive.composition import Services
from quivive.services.accounts import NewAccount
from support.quivive import RecordingAudit, live_quivive
from support.virtual_authenticator import NO_AUTOFILL, VIRTUAL_AUTHENTICATOR

PASSWORD = "correct horse battery staple 42"


@dataclass
class Site:
    url: str
    services: Services
    audit: RecordingAudit


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    audit = RecordingAudit()
    with live_quivive(tmp_path, audit=audit) as (url, services):
        account = NewAccount(username="alice", password=PASSWORD, display_name="Alice Martin")
        services.accounts.create(account, actor="test")
        yield Site(url, services, audit)


def add_authenticator(page: Page) -> tuple[CDPSession, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added: dict[str, Any] = cdp.send(
        "WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR}
    )
    return cdp, str(added["authenticatorId"])


def register_passkey(page: Page, site: Site) -> CDPSession:
    """Sign in with the password, add a passkey from the account page; then sign out."""
    cdp, authenticator = add_authenticator(page)
    page.goto(site.url + "/login")
    page.locator("#username").fill("alice")
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    expect(page).to_have_url(site.url + "/account")

    page.locator("a[href='/account/passkeys']").click()
    page.locator("#passkey-name").fill("Poste de soins 3")
    page.locator("#add-passkey").click()
    page.wait_for_url(re.compile(r"notice=added|second-factor"))

    [passkey] = site.services.passkeys.list_for_user(site.services.accounts.get("alice").id)
    assert passkey.name == "Poste de soins 3"
    assert passkey.user_verified
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert [credential["isResidentCredential"] for credential in stored["credentials"]] == [True]
    page.context.clear_cookies()  # signed out: no session left in this browser
    return cdp


def expect_signed_in_with_the_passkey_alone(page: Page, site: Site) -> None:
    expect(page).to_have_url(site.url + "/account")
    # A device-bound key (BE=0) that verified its user: AAL3, amr hwk + user + mfa, no password.
    expect(page.locator("#aal")).to_have_text("AAL3")
    expect(page.locator("#amr")).to_have_text("hwk, user, mfa")


def test_register_a_passkey_then_sign_in_with_the_passkey_button(page: Page, site: Site) -> None:
    page.add_init_script(NO_AUTOFILL)
    register_passkey(page, site)
    page.goto(site.url + "/login")

    page.locator("#passkey-sign-in").click()

    expect_signed_in_with_the_passkey_alone(page, site)


def test_passkey_autofill_signs_in_from_the_login_page(page: Page, site: Site) -> None:
    # Conditional mediation: the virtual authenticator answers the autofill request at once,
    # where a person would pick the passkey offered under the username field.
    register_passkey(page, site)

    page.goto(site.url + "/login")

    expect_signed_in_with_the_passkey_alone(page, site)
    assert ("factor.added", "success") in site.audit.actions()
    sign_ins = [action for action in site.audit.actions() if action[0].startswith("login.")]
    assert sign_ins[-1] == ("login.passkey", "success")
    # The cookies were cleared: to Quivive this is another browser, reported to the user.
    assert site.audit.actions()[-1] == ("device.new", "success")


def test_password_then_the_passkey_as_second_factor(page: Page, site: Site) -> None:
    page.add_init_script(NO_AUTOFILL)
    register_passkey(page, site)
    page.goto(site.url + "/login")
    page.locator("#username").fill("alice")
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/login/second-factor/passkey\?next="))

    page.locator("#use-passkey").click()

    expect(page).to_have_url(site.url + "/account")
    expect(page.locator("#aal")).to_have_text("AAL3")
    expect(page.locator("#amr")).to_have_text("pwd, hwk, user, mfa")
