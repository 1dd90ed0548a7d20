"""Password + TOTP in a real Chromium: enrol an authenticator app, sign out, sign in with a code.

The code is computed with pyotp from the key the enrolment page shows, as an authenticator app
would from the QR code. The server's clock is a FrozenClock moved by the test, so the sign-in
code belongs to a later time step than the enrolment code (a replay would be refused).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from quivive.clock import FrozenClock
from quivive.services.accounts import NewAccount
from support.quivive import RecordingAudit, live_quivive

PASSWORD = "correct horse battery staple 42"


@dataclass
class Site:
    url: str
    clock: FrozenClock
    audit: RecordingAudit


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    clock = FrozenClock(datetime(2026, 1, 15, 8, 0, 5, tzinfo=UTC))
    audit = RecordingAudit()
    with live_quivive(tmp_path, clock=clock, audit=audit) as (url, services):
        services.accounts.create(NewAccount("alice", PASSWORD), actor="test")
        yield Site(url, clock, audit)


def sign_in_with_password(page: Page, site: Site) -> None:
    page.goto(site.url + "/login")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")


@pytest.mark.parametrize("browser_locale", ["en-GB"])
def test_totp_enrolment_then_sign_in_with_password_and_code(page: Page, site: Site) -> None:
    sign_in_with_password(page, site)
    expect(page).to_have_url(site.url + "/account")
    expect(page.locator("#aal")).to_have_text("AAL1")

    page.click("a[href^='/account/totp/enrol']")
    expect(page.locator("#qr svg")).to_be_visible()
    secret = page.locator("#secret").input_value()
    authenticator = pyotp.TOTP(secret)
    page.fill("#name", "Work phone")
    page.fill("#code", authenticator.at(site.clock.now()))
    page.click("form[action='/account/totp/enrol'] button[type=submit]")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.click("#continue")
    expect(page.locator("#aal")).to_have_text("AAL2")
    expect(page.locator("#factors")).to_contain_text("Work phone")

    page.click("form[action='/logout'] button[type=submit]")
    expect(page).to_have_url(site.url + "/login?notice=signed_out")
    site.clock.advance(timedelta(seconds=60))

    sign_in_with_password(page, site)
    expect(page).to_have_url(site.url + "/login/second-factor/totp?next=%2Faccount")
    page.fill("#code", authenticator.at(site.clock.now()))
    page.click("form[action='/login/second-factor/totp'] button[type=submit]")

    expect(page).to_have_url(site.url + "/account")
    expect(page.locator("#aal")).to_have_text("AAL2")
    expect(page.locator("#amr")).to_have_text("pwd, otp, mfa")
    assert ("login.totp", "success") in site.audit.actions()
