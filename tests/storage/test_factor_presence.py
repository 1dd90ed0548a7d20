"""The one-query answer to "which factors can this user prove", on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quivive.composition import Services
from quivive.domain.users import NewUser
from quivive.storage.factor_presence import FactorPresenceRepository
from support.factors import HOLDINGS, arrange

NOW = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


def add_user(services: Services, username: str) -> int:
    new = NewUser(username, username.title(), None, (), None, "$argon2id$stored-as-given")
    return services.users.add(new, now=NOW).id


@pytest.mark.parametrize("case", sorted(HOLDINGS))
def test_usable_kinds(services: Services, case: str) -> None:
    holdings, usable = HOLDINGS[case]
    user_id = add_user(services, "alice")
    arrange(services.engine, user_id, holdings, NOW)

    assert FactorPresenceRepository(services.engine).usable_kinds(user_id) == usable


def test_another_users_credentials_do_not_count(services: Services) -> None:
    alice, bob = add_user(services, "alice"), add_user(services, "bob")
    arrange(services.engine, bob, {"passkey", "totp", "codes"}, NOW)

    presence = FactorPresenceRepository(services.engine)

    assert presence.usable_kinds(alice) == frozenset()
    assert presence.usable_kinds(bob) == presence.kinds
