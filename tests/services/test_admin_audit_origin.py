"""Every change an administrator makes is audited with where the request came from.

An investigation after an incident asks "from which workstation was this account re-enabled?":
the records written by the accounts, MFA policy and throttle services on behalf of the console
must carry the administrator's address, user agent and request id like the console's own ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

import pytest

from quivive.composition import Services
from quivive.domain.mfa_policy import MfaRule
from quivive.services.accounts import NewAccount
from quivive.services.admin import AdminActor
from quivive.services.mfa import Origin
from support.admin_console import actor, add_user
from support.quivive import RecordingAudit

ORIGIN = Origin("198.51.100.7", "Firefox/140", "req-42")

Change = Callable[[Services, AdminActor], object]
CHANGES: dict[str, Change] = {
    "user.created": lambda s, a: s.admin.create_user(a, NewAccount("eve", roles=["nurse"])),
    "user.disabled": lambda s, a: s.admin.set_enabled(a, _nina(s), enabled=False),
    "user.enabled": lambda s, a: s.admin.set_enabled(a, _nina(s), enabled=True),
    "policy.changed": lambda s, a: s.admin.set_mfa_rule(a, MfaRule("nurse", date(2026, 2, 1))),
    "throttle.cleared": lambda s, a: s.admin.clear_throttle(a, "nina"),
}


def _nina(services: Services) -> int:
    user = services.users.find_by_username("nina")
    assert user is not None
    return user.id


@pytest.mark.parametrize("action", CHANGES)
def test_the_record_carries_the_administrators_origin(
    sqlite_services: Services, audit: RecordingAudit, action: str
) -> None:
    add_user(sqlite_services, "nina", "nurse")
    attempt = sqlite_services.throttle.admit("nina", "192.0.2.1")
    sqlite_services.throttle.failed(attempt, "guess")
    root = replace(actor(add_user(sqlite_services, "root", "admin")), origin=ORIGIN)

    CHANGES[action](sqlite_services, root)

    event = [e for e in audit.events if e.action == action][-1]
    assert event.actor == "root"
    assert (event.source_address, event.user_agent, event.request_id) == (
        "198.51.100.7",
        "Firefox/140",
        "req-42",
    )
