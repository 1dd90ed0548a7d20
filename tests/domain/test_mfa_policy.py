from datetime import UTC, date, datetime, timedelta

from quivive.domain.mfa_policy import Enforcement, MfaRule, requirement_for

RULES = [
    MfaRule("medecin", date(2026, 1, 1), grace_days=30),
    MfaRule("admin", date(2026, 3, 1), phishing_resistant=True),
]


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def test_no_rule_for_the_roles_means_no_requirement() -> None:
    requirement = requirement_for(["infirmier"], RULES, at("2027-01-01"))

    assert requirement.enforcement is Enforcement.NONE
    assert not requirement.required


def test_before_the_deadline_the_user_is_nudged_with_days_left() -> None:
    requirement = requirement_for(["medecin"], RULES, at("2026-01-15T08:00:00"))

    assert requirement.enforcement is Enforcement.NUDGE
    assert requirement.deadline == at("2026-01-31")
    assert requirement.days_left(at("2026-01-15T08:00:00")) == 16


def test_grace_days_move_the_deadline_after_the_date() -> None:
    rule = RULES[0]

    assert rule.deadline == at("2026-01-01") + timedelta(days=30)
    assert requirement_for(["medecin"], RULES, at("2026-01-30T23:59:59")).enforcement is (
        Enforcement.NUDGE
    )
    assert requirement_for(["medecin"], RULES, at("2026-01-31")).required


def test_the_strictest_rule_of_several_roles_wins() -> None:
    requirement = requirement_for(["medecin", "admin"], RULES, at("2026-02-15"))

    assert requirement.required  # medecin's deadline passed
    assert requirement.phishing_resistant  # admin's rule asks for passkeys
    assert requirement.deadline == at("2026-01-31")


def test_days_left_is_zero_after_the_deadline() -> None:
    requirement = requirement_for(["medecin"], RULES, at("2026-02-01"))

    assert requirement.days_left(at("2026-02-01")) == 0
