"""Emergency access in a real Chromium, in French: from the code page to a bannered session.

A nurse with an authenticator app signs in with her password, cannot give the code, takes the
separate emergency path, fills the form and lands on her account under the emergency banner.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from quivive.clock import FrozenClock
from quivive.protocols import totp
from quivive.services.accounts import NewAccount
from support.quivive import RecordingAudit, live_quivive

PASSWORD = "correct horse battery staple 42"


@dataclass
class Site:
    url: str
    audit: RecordingAudit


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    clock, audit = FrozenClock(), RecordingAudit()
    with live_quivive(tmp_path, clock=clock, audit=audit, emergency_roles="infirmier") as (
        url,
        services,
    ):
        account = NewAccount("alice", PASSWORD, roles=("infirmier",))
        user = services.accounts.create(account, actor="test")
        pending = services.totp.begin(user.id, "alice")
        services.totp.confirm(user.id, totp.code_at(pending.secret, totp.step_at(clock.now())), "x")
        yield Site(url, audit)


def test_the_emergency_path_in_french(page: Page, site: Site) -> None:
    page.goto(site.url + "/login")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    expect(page).to_have_url(site.url + "/login/second-factor/totp?next=%2Faccount")

    page.click("#emergency-link")
    expect(page.locator("h1")).to_have_text("Accès d'urgence")
    page.fill("#password", PASSWORD)
    page.select_option("#reason", "factor_forgotten")
    page.fill("#justification", "Téléphone oublié, patiente en détresse au box 4, je dois agir.")
    page.fill("#witness_name", "Dr Martin")
    page.click("form[action='/login/emergency'] button[type=submit]")

    expect(page).to_have_url(site.url + "/account")
    banner = page.locator("#emergency-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("2026-01-15 10:00 UTC")
    assert ("emergency.granted", "success") in site.audit.actions()
