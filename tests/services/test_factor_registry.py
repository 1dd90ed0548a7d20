"""FactorRegistry.usable: one query, and the same answer as asking each factor's credentials."""

from __future__ import annotations

from typing import Any

import pytest

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.services.accounts import NewAccount
from quivive.services.mfa import FactorRegistry
from quivive.storage.factor_presence import FactorPresenceRepository
from support.factors import HOLDINGS, arrange
from support.statements import executed_statements


def names(factors: Any) -> list[str]:
    return [factor.name for factor in factors]


@pytest.mark.parametrize("case", sorted(HOLDINGS))
def test_usable_agrees_with_each_factors_credentials(
    sqlite_services: Services, clock: FrozenClock, case: str
) -> None:
    user = sqlite_services.accounts.create(NewAccount("alice"), actor="test")
    arrange(sqlite_services.engine, user.id, HOLDINGS[case][0], clock.now())
    registry = sqlite_services.mfa.factors

    per_factor = [factor.name for factor in registry if factor.credentials(user.id)]

    assert names(registry.usable(user.id)) == per_factor
    assert names(FactorRegistry(list(registry)).usable(user.id)) == per_factor


def test_usable_is_one_query(sqlite_services: Services, clock: FrozenClock) -> None:
    user = sqlite_services.accounts.create(NewAccount("alice"), actor="test")
    arrange(sqlite_services.engine, user.id, {"passkey", "totp", "codes"}, clock.now())

    with executed_statements(sqlite_services.engine) as statements:
        usable = sqlite_services.mfa.factors.usable(user.id)

    assert names(usable) == ["passkey", "totp", "recovery_code"]  # the chooser's order
    assert len(statements) == 1


class KnowsNoTotp:
    kinds = frozenset({"passkey", "recovery_code"})

    def usable_kinds(self, user_id: int) -> frozenset[str]:
        return self.kinds


def test_a_factor_the_presence_query_does_not_know_is_refused(sqlite_services: Services) -> None:
    factors = list(sqlite_services.mfa.factors)
    FactorRegistry(factors, presence=FactorPresenceRepository(sqlite_services.engine))

    # Taken for unusable at every sign-in, a new factor would lock its users out of it.
    with pytest.raises(ValueError, match="totp"):
        FactorRegistry(factors, presence=KnowsNoTotp())
