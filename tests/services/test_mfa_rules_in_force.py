"""MfaPolicyService keeps the rules in memory: at once on this node, soon on the others."""

from __future__ import annotations

from datetime import date

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.domain.mfa_policy import Enforcement, MfaRule
from quivive.services.accounts import NewAccount
from quivive.services.mfa_policy import MfaPolicyService
from quivive.services.refreshed import REFRESH_INTERVAL
from quivive.storage.mfa_rules import MfaRuleRepository
from support.quivive import RecordingAudit
from support.statements import executed_statements

RULE = MfaRule("medecin", date(2026, 1, 1))


def other_node(services: Services, clock: FrozenClock, audit: RecordingAudit) -> MfaPolicyService:
    return MfaPolicyService((), MfaRuleRepository(services.engine), audit, clock)


def test_a_rule_set_here_applies_at_once(services: Services) -> None:
    user = services.accounts.create(NewAccount("alice", roles=["medecin"]), actor="test")
    assert services.mfa.requirement(user).enforcement is Enforcement.NONE

    services.mfa_policy.set_rule(RULE, actor="root")

    assert services.mfa.requirement(user).enforcement is Enforcement.REQUIRED
    assert [item.source for item in services.mfa_policy.in_force()] == ["database"]


def test_other_nodes_see_a_rule_within_the_refresh_interval(
    services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    other = other_node(services, clock, audit)
    assert other.rules() == []

    services.mfa_policy.set_rule(RULE, actor="root")  # or ``quivive policy set-mfa``
    assert other.rules() == []  # its cache is still fresh
    clock.advance(REFRESH_INTERVAL)

    assert other.rules() == [RULE]


def test_rules_are_read_from_memory_while_fresh(
    sqlite_services: Services, clock: FrozenClock, audit: RecordingAudit
) -> None:
    policy = other_node(sqlite_services, clock, audit)
    policy.rules()
    with executed_statements(sqlite_services.engine) as statements:
        policy.rules()
        policy.in_force()

    assert statements == []
