"""E-mails to the account holder about changes to their account, through a local SMTP sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from quivive.services.accounts import NewAccount
from quivive.services.mfa import Origin
from support.quivive import running_services
from support.smtp_sink import SmtpInbox, body_of, smtp_inbox

ALICE = "alice@hopital.example"
OLD, NEW = "correct horse battery staple 42", "a brand new passphrase 2026"


@pytest.fixture
def inbox() -> Iterator[SmtpInbox]:
    with smtp_inbox() as sink:
        yield sink


def test_a_password_change_is_emailed_without_the_password(
    tmp_path: Path, inbox: SmtpInbox
) -> None:
    with running_services(tmp_path, settings=inbox.settings()) as services:
        services.accounts.create(NewAccount("alice", OLD, email=ALICE), actor="test")
        services.accounts.set_password("alice", NEW, actor="alice")
        assert services.outbox.drain(30)

    [mail] = inbox.to(ALICE)
    assert mail["Subject"] == "Quivive : votre mot de passe a été changé"
    body = body_of(mail)
    assert "Le mot de passe de votre compte a été changé" in body
    assert NEW not in body
    assert OLD not in body


def test_factor_added_and_removed_are_emailed_in_english(tmp_path: Path, inbox: SmtpInbox) -> None:
    settings = {"language": "en"}
    with running_services(tmp_path, settings={**inbox.settings(), **settings}) as services:
        user = services.accounts.create(NewAccount("alice", OLD, email=ALICE), actor="test")
        origin = Origin(source_address="198.51.100.7")
        for action in ("factor.added", "factor.removed"):
            services.mfa.record_factor_change(action, user, "totp", "1", origin)
        services.mfa.record_factor_change("factor.renamed", user, "totp", "1", origin)
        assert services.outbox.drain(30)

    subjects = sorted(mail["Subject"] for mail in inbox.to(ALICE))
    assert subjects == [
        "Quivive: an authentication factor was added",
        "Quivive: an authentication factor was removed",
    ]
    body = body_of(inbox.to(ALICE)[0])
    assert "authenticator app" in body
    assert "198.51.100.7" in body


def test_no_address_no_mail(tmp_path: Path, inbox: SmtpInbox) -> None:
    with running_services(tmp_path, settings=inbox.settings()) as services:
        services.accounts.create(NewAccount("bob", OLD), actor="test")
        services.accounts.set_password("bob", NEW, actor="bob")
        assert services.outbox.drain(30)

    assert inbox.envelopes == []


def test_without_smtp_nothing_is_sent_and_nothing_fails(tmp_path: Path) -> None:
    with running_services(tmp_path) as services:
        services.accounts.create(NewAccount("alice", OLD, email=ALICE), actor="test")
        services.accounts.set_password("alice", NEW, actor="alice")

        assert services.outbox.drain(5)
