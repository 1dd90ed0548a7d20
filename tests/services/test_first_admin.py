import asyncio
from datetime import timedelta

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.users import ADMIN_ROLE
from quivive.errors import PasswordRejected, SetupTokenInvalid, ValidationError
from quivive.services.accounts import NewAccount
from quivive.services.first_admin import SETUP_LINK_LIFETIME
from support.quivive import RecordingAudit

PASSWORD = "tulipe ardoise gravier"
ADMIN = NewAccount(username="Admin.DSI", password=PASSWORD, display_name="Service informatique")


def token_of(link: str | None) -> str:
    assert link is not None
    return link.rsplit("/", 1)[1]


def test_needed_on_a_fresh_database(services: Services) -> None:
    assert services.first_admin.needed()


def test_link_is_under_the_public_url(services: Services) -> None:
    link = services.first_admin.issue_link()

    assert link is not None
    assert link.startswith(services.settings.public_url + "/setup/")
    assert services.first_admin.is_valid(token_of(link))


def test_each_link_is_new(services: Services) -> None:
    assert services.first_admin.issue_link() != services.first_admin.issue_link()


def test_complete_creates_an_administrator(services: Services, audit: RecordingAudit) -> None:
    token = token_of(services.first_admin.issue_link())

    admin = services.first_admin.complete(token, ADMIN)

    assert admin.username == "admin.dsi"
    assert admin.roles == (ADMIN_ROLE,)
    assert admin.is_active
    assert not services.first_admin.needed()
    signed_in = asyncio.run(services.authenticator.authenticate("admin.dsi", PASSWORD))
    assert signed_in.id == admin.id
    assert [(e.action, e.actor, e.subject) for e in audit.events] == [
        ("user.created", "setup-link", "admin.dsi")
    ]


def test_complete_keeps_every_field_and_adds_the_admin_role(services: Services) -> None:
    token = token_of(services.first_admin.issue_link())
    account = NewAccount(
        username="admin.dsi",
        password=PASSWORD,
        email="dsi@chu.example",
        roles=("doctor",),
        professional_id="10001234567",
    )

    admin = services.first_admin.complete(token, account)

    assert admin.roles == ("admin", "doctor")
    assert admin.email == "dsi@chu.example"
    assert admin.professional_id == "10001234567"


def test_link_works_once(services: Services) -> None:
    token = token_of(services.first_admin.issue_link())
    admin = services.first_admin.complete(token, ADMIN)
    # Disabling the only administrator makes set-up needed again: the used link must still fail.
    services.accounts.disable(admin.username, actor="cli")
    assert services.first_admin.needed()

    assert not services.first_admin.is_valid(token)
    with pytest.raises(SetupTokenInvalid):
        services.first_admin.complete(token, NewAccount(username="other", password=PASSWORD))
    assert services.accounts.find("other") is None


def test_link_expires_after_an_hour(services: Services, clock: FrozenClock) -> None:
    assert timedelta(hours=1) == SETUP_LINK_LIFETIME
    token = token_of(services.first_admin.issue_link())

    clock.advance(SETUP_LINK_LIFETIME - timedelta(seconds=1))
    assert services.first_admin.is_valid(token)
    clock.advance(timedelta(seconds=1))
    assert not services.first_admin.is_valid(token)

    with pytest.raises(SetupTokenInvalid):
        services.first_admin.complete(token, ADMIN)
    assert services.first_admin.needed()


def test_rejected_password_does_not_use_up_the_link(services: Services) -> None:
    token = token_of(services.first_admin.issue_link())
    weak = NewAccount(username="admin.dsi", password="password1234")

    with pytest.raises(PasswordRejected):
        services.first_admin.complete(token, weak)

    assert services.first_admin.is_valid(token)
    assert services.first_admin.needed()
    assert services.first_admin.complete(token, ADMIN).is_admin


def test_an_administrator_without_a_password_is_refused(services: Services) -> None:
    # Such an admin could not sign in, yet would switch set-up off: nobody could get in.
    token = token_of(services.first_admin.issue_link())

    with pytest.raises(ValidationError):
        services.first_admin.complete(token, NewAccount(username="admin.dsi"))

    assert services.first_admin.needed()
    assert services.first_admin.is_valid(token)


def test_unknown_token_is_refused(services: Services) -> None:
    services.first_admin.issue_link()

    assert not services.first_admin.is_valid("made-up-token")
    with pytest.raises(SetupTokenInvalid):
        services.first_admin.complete("made-up-token", ADMIN)


def test_once_an_admin_exists_no_link_is_issued_and_old_ones_stop(services: Services) -> None:
    old_token = token_of(services.first_admin.issue_link())

    services.accounts.create(
        NewAccount(username="admin.cli", password=PASSWORD, roles=(ADMIN_ROLE,)), actor="cli"
    )

    assert not services.first_admin.needed()
    assert services.first_admin.issue_link() is None
    assert not services.first_admin.is_valid(old_token)
    with pytest.raises(SetupTokenInvalid):
        services.first_admin.complete(old_token, ADMIN)
    assert services.accounts.find("admin.dsi") is None


def test_a_non_admin_user_does_not_end_set_up(services: Services) -> None:
    services.accounts.create(NewAccount(username="nurse", roles=("nurse",)), actor="cli")

    assert services.first_admin.needed()
    assert services.first_admin.issue_link() is not None
