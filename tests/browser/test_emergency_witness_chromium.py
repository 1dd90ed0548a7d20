"""Two-person emergency access in Chromium: the colleague confirms with their own passkey.

Bruno registers a passkey on the shared workstation's (virtual) authenticator; Alice, whose phone
is at home, takes the emergency path and, on the same screen, Bruno's key confirms it through the
page's own script (passkeys.js), as in a real browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.protocols import totp
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
    clock, audit = FrozenClock(), RecordingAudit()
    settings = {"emergency_roles": "infirmier", "emergency_two_person": "true"}
    with live_quivive(tmp_path, clock=clock, audit=audit, **settings) as (url, services):
        for name in ("alice", "bruno"):
            account = NewAccount(name, PASSWORD, roles=("infirmier",))
            services.accounts.create(account, actor="test")
        alice = services.accounts.get("alice")
        pending = services.totp.begin(alice.id, "alice")
        code = totp.code_at(pending.secret, totp.step_at(clock.now()))
        services.totp.confirm(alice.id, code, "phone")
        yield Site(url, services, audit)


def sign_in(page: Page, site: Site, username: str) -> None:
    page.goto(site.url + "/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()


def test_the_colleague_confirms_with_their_passkey_on_the_same_screen(
    page: Page, site: Site
) -> None:
    page.add_init_script(NO_AUTOFILL)
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added: dict[str, Any] = cdp.send(
        "WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR}
    )
    assert added["authenticatorId"]
    sign_in(page, site, "bruno")
    expect(page).to_have_url(site.url + "/account")
    page.goto(site.url + "/account/passkeys")
    page.locator("#passkey-name").fill("Poste de soins 3")
    page.locator("#add-passkey").click()
    page.wait_for_url(re.compile(r"notice=added|second-factor"))
    bruno = site.services.accounts.get("bruno")
    assert [key.name for key in site.services.passkeys.list_for_user(bruno.id)] == [
        "Poste de soins 3"
    ]
    page.context.clear_cookies()

    sign_in(page, site, "alice")
    expect(page).to_have_url(site.url + "/login/second-factor/totp?next=%2Faccount")
    page.click("#emergency-link")
    page.click("#witness-passkey-link")
    page.fill("#password", PASSWORD)
    page.select_option("#reason", "factor_forgotten")
    page.fill("#justification", "Téléphone oublié, patiente en détresse au box 4, je dois agir.")
    page.fill("#witness_name", "Bruno")
    page.click("form[action='/login/emergency'] button[type=submit]")

    expect(page).to_have_url(site.url + "/account")
    expect(page.locator("#emergency-banner")).to_be_visible()
    confirmed = [e for e in site.audit.events if e.action == "emergency.witness_confirmed"]
    assert [e.subject for e in confirmed] == ["bruno"]
