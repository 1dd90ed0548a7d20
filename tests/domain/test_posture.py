"""The posture checks as a table: each check passes on a healthy establishment and fails alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from quivive.domain.posture import (
    CHECK_IDS,
    CHECKS,
    Attacks,
    Emergency,
    Figures,
    KeptReport,
    PasswordOnly,
    RoleCoverage,
    Settings,
    Status,
    assess,
    evaluate,
    key_model_name,
    score,
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GOOD_SETTINGS = Settings(
    idle_timeout=timedelta(minutes=15),
    absolute_timeout=timedelta(hours=12),
    password_min_length=12,
    hash_memory_kib=19456,
    hash_time_cost=2,
    hash_parallelism=1,
    max_failures=100,
    console_requires_phishing_resistant=True,
)
HEALTHY = Figures(
    at=AT,
    coverage=[RoleCoverage(None, 10, 10, 6), RoleCoverage("nurse", 10, 10, 6)],
    password_only=PasswordOnly(),
    roles_without_rule=[],
    admins=2,
    admins_without_phishing_resistant=[],
    dormant=0,
    blocklisted=0,
    attacks=Attacks(throttles=3),
    emergency=Emergency(uses=2, pending=1, justified=1),
    audit_intact=True,
    audit_checked=120,
    settings=GOOD_SETTINGS,
)

Change = Callable[[Figures], Figures]


def _settings(**values: object) -> Change:
    return lambda f: replace(f, settings=replace(GOOD_SETTINGS, **values))  # type: ignore[arg-type]


# One change per check that makes exactly that check fail.
FAILING: dict[str, Change] = {
    "password_only": lambda f: replace(
        f,
        coverage=[RoleCoverage(None, 10, 9, 6), RoleCoverage("nurse", 10, 9, 6)],
        password_only=PasswordOnly(in_grace=1),
    ),
    "password_only_overdue": lambda f: replace(f, password_only=PasswordOnly(past_deadline=1)),
    "mfa_rule_per_role": lambda f: replace(f, roles_without_rule=["secretary"]),
    "phishing_resistant_share": lambda f: replace(
        f, coverage=[RoleCoverage(None, 10, 10, 4), RoleCoverage("nurse", 10, 10, 4)]
    ),
    "admins_phishing_resistant": lambda f: replace(f, admins_without_phishing_resistant=["root"]),
    "console_requires_passkey": _settings(console_requires_phishing_resistant=False),
    "dormant_accounts": lambda f: replace(f, dormant=1),
    "blocklisted_passwords": lambda f: replace(f, blocklisted=1),
    "attacks": lambda f: replace(f, attacks=Attacks(spraying=1)),
    "throttling_limit": _settings(max_failures=101),
    "emergency_reviewed": lambda f: replace(f, emergency=Emergency(pending=1, overdue=1)),
    "emergency_unjustified": lambda f: replace(f, emergency=Emergency(unjustified=1)),
    "audit_chain": lambda f: replace(f, audit_intact=False),
    "idle_timeout": _settings(idle_timeout=timedelta(minutes=61)),
    "absolute_timeout": _settings(absolute_timeout=timedelta(hours=25)),
    "password_length": _settings(password_min_length=10),
    "password_hashing": _settings(hash_memory_kib=8192),
}


def test_every_check_has_a_failing_case_here() -> None:
    assert set(FAILING) == set(CHECK_IDS)
    assert len(set(CHECK_IDS)) == len(CHECKS)


def test_a_healthy_establishment_passes_everything() -> None:
    results = evaluate(HEALTHY)

    assert [r.status for r in results] == [Status.PASS] * len(CHECKS)
    assert score(results) == 100


# An overdue password-only account is a password-only account all the same.
ALSO_FAILING = {"password_only_overdue": {"password_only"}}


@pytest.mark.parametrize("check", CHECK_IDS)
def test_each_check_fails_on_its_own(check: str) -> None:
    results = evaluate(FAILING[check](HEALTHY))

    failed = {r.id for r in results if r.status is Status.FAIL}
    assert failed == {check, *ALSO_FAILING.get(check, set())}


def test_password_alone_was_tolerated_before_the_rie_date() -> None:
    before = replace(FAILING["password_only"](HEALTHY), at=datetime(2025, 12, 31, tzinfo=UTC))

    assert all(r.passed for r in evaluate(before))


def test_the_measured_values_are_plain_text() -> None:
    values = {r.id: r.value for r in evaluate(FAILING["password_only"](HEALTHY))}

    assert values["password_only"] == "1 / 10"
    assert values["phishing_resistant_share"] == "60 %"
    assert values["idle_timeout"] == "15 min"
    assert values["password_hashing"] == "m=19456 t=2 p=1"


def test_the_score_is_the_weighted_share_passed() -> None:
    total = sum(check.weight for check in CHECKS)
    results = evaluate(FAILING["audit_chain"](HEALTHY))

    assert score(results) == round(100 * (total - 15) / total)
    assert score([]) == 100


def test_the_trend_names_what_was_fixed_and_what_broke() -> None:
    previous = KeptReport(
        AT - timedelta(days=30), 70, {"dormant_accounts": Status.FAIL, "audit_chain": Status.PASS}
    )
    now = assess(FAILING["audit_chain"](HEALTHY), previous)

    assert now.trend.previous_score == 70
    assert now.trend.fixed == ("dormant_accounts",)
    assert now.trend.broken == ("audit_chain",)
    assert now.trend.delta(now.score) == now.score - 70
    assert assess(HEALTHY).trend.delta(100) is None


def test_known_key_models_are_named() -> None:
    assert key_model_name("EA9B8D66-4D01-1D21-3CE4-B6B48CB575D4") == "Google Password Manager"
    assert key_model_name("00000000-0000-0000-0000-000000000000") is None
