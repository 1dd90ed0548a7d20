"""A sign-in from a browser the user never signed in from is e-mailed to them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from quivive.composition import Services
from quivive.services.accounts import NewAccount
from quivive.storage.tables import known_devices
from quivive.web.app import create_app
from support.quivive import running_services
from support.smtp_sink import SmtpInbox, body_of, smtp_inbox

ALICE = "alice@hopital.example"
PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def inbox() -> Iterator[SmtpInbox]:
    with smtp_inbox() as sink:
        yield sink


@pytest.fixture
def services(tmp_path: Path, inbox: SmtpInbox) -> Iterator[Services]:
    with running_services(tmp_path, settings=inbox.settings()) as built:
        built.accounts.create(NewAccount("alice", PASSWORD, email=ALICE), actor="test")
        yield built


def browser(services: Services) -> TestClient:
    return TestClient(create_app(services), base_url="http://localhost:8080")


def sign_in(client: TestClient) -> str:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "username": "alice", "password": PASSWORD}
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 303
    return response.headers.get("set-cookie", "")


def test_only_a_sign_in_from_a_new_browser_is_emailed(services: Services, inbox: SmtpInbox) -> None:
    first, second = browser(services), browser(services)

    cookies = sign_in(first)  # the very first device: nothing to compare with
    sign_in(first)  # the same browser again
    sign_in(second)  # another browser
    assert services.outbox.drain(30)

    assert "quivive_device=" in cookies
    assert "HttpOnly" in cookies
    [mail] = inbox.to(ALICE)
    assert mail["Subject"] == "Quivive : connexion depuis un nouvel appareil"
    assert "appareil ou navigateur" in body_of(mail)


def test_only_hashes_of_device_ids_are_stored(services: Services) -> None:
    client = browser(services)
    sign_in(client)
    device_id = client.cookies["quivive_device"]

    with services.engine.connect() as conn:
        stored = conn.execute(select(known_devices.c.device_hash)).scalars().all()

    assert len(stored) == 1
    assert device_id not in stored[0]
    assert len(stored[0]) == 64


def test_a_forged_device_cookie_is_replaced(services: Services, inbox: SmtpInbox) -> None:
    sign_in(browser(services))
    forged = browser(services)
    forged.cookies.set("quivive_device", "not a device id")

    cookies = sign_in(forged)
    assert services.outbox.drain(30)

    assert "quivive_device=" in cookies
    assert "quivive_device=not" not in cookies
    assert len(inbox.to(ALICE)) == 1
