from datetime import UTC, date, datetime, timedelta

from quivive.domain.mfa_policy import (
    Enforcement,
    MfaRule,
    requirement_for,
    with_enrolment_mark,
)

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


def test_an_enrolment_mark_makes_a_role_without_a_rule_required_at_once() -> None:
    found = requirement_for(["infirmier"], RULES, at("2027-01-01"))

    marked = with_enrolment_mark(found, at("2026-12-31"))

    assert marked.required
    assert marked.deadline == at("2026-12-31")
    assert marked.days_left(at("2027-01-01")) == 0
    assert not marked.phishing_resistant
    assert with_enrolment_mark(found, None) == found


def test_an_enrolment_mark_ends_the_grace_and_keeps_a_passkey_only_rule() -> None:
    found = requirement_for(["admin"], RULES, at("2026-02-01"))
    assert found.enforcement is Enforcement.NUDGE

    marked = with_enrolment_mark(found, at("2026-01-31"))

    assert marked.required
    assert marked.phishing_resistant


def test_an_enrolment_mark_leaves_a_rule_in_force_as_it_is() -> None:
    found = requirement_for(["medecin"], RULES, at("2026-06-01"))

    assert with_enrolment_mark(found, at("2026-05-01")) == found
