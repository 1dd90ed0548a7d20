"""The demo establishment's roster: plain data, the same for a seed, with the report's findings."""

from __future__ import annotations

from collections import Counter
from datetime import date

from quivive.domain.demo_establishment import (
    DEMO_PASSWORD,
    ESTABLISHMENT_NAME,
    FEATURED_USERNAMES,
    FINESS,
    ROLES,
    DemoFactor,
    ascii_login,
    luhn_key,
    mfa_rules,
    roster,
)
from quivive.domain.passwords import check_new_password, context_words_for
from quivive.storage.password_blocklist import ShippedBlocklist


def test_the_roster_has_every_care_role_in_its_planned_number() -> None:
    people = roster()

    assert Counter(person.role for person in people) == {
        role.identifier: role.count for role in ROLES
    }
    assert 30 <= len(people) <= 60
    assert {
        "medecin",
        "infirmier",
        "aide-soignant",
        "secretaire-medicale",
        "travailleur-social",
        "admin",
    } == {role.identifier for role in ROLES}


def test_usernames_are_unique_ascii_logins() -> None:
    usernames = [person.username for person in roster()]

    assert len(set(usernames)) == len(usernames)
    assert all(name.isascii() and name == name.lower() and " " not in name for name in usernames)
    assert set(usernames) >= FEATURED_USERNAMES
    assert ascii_login("Inès", "Le Gall") == "ines.le-gall"


def test_health_professionals_and_only_they_have_an_eleven_digit_rpps_with_its_luhn_key() -> None:
    for person in roster():
        health = person.role in ("medecin", "infirmier")
        assert (person.rpps is not None) is health
        if person.rpps is not None:
            assert len(person.rpps) == 11
            assert person.rpps.isdigit()
            assert luhn_key(person.rpps[:-1]) == int(person.rpps[-1])


def test_the_mix_has_mfa_and_password_only_disabled_and_dormant_accounts() -> None:
    people = roster()
    with_passkey = [p for p in people if DemoFactor.PASSKEY in p.factors]
    with_totp = [p for p in people if DemoFactor.TOTP in p.factors]
    password_only = [p for p in people if not p.has_mfa]

    assert len(with_passkey) >= 5
    assert len(with_totp) >= 10
    assert len(password_only) >= 8
    assert sum(p.disabled for p in people) == 2
    assert sum(p.dormant for p in people) == 3
    admins = [p for p in people if p.role == "admin"]
    assert any(DemoFactor.PASSKEY not in p.factors for p in admins)  # a report finding
    # A physician past the deadline without a second factor: the enrolment wall.
    assert any(p.role == "medecin" and not p.has_mfa for p in people)


def test_the_same_seed_gives_the_same_people_and_another_seed_other_people() -> None:
    assert roster(7) == roster(7)
    assert roster(7) != roster(8)


def test_rules_cover_every_role_some_past_their_deadline_some_not_yet() -> None:
    today = date(2026, 11, 28)
    rules = mfa_rules(today)

    assert {rule.role for rule in rules} == {role.identifier for role in ROLES}
    assert any(rule.enforce_from < today for rule in rules)
    assert any(rule.enforce_from > today for rule in rules)


def test_the_printed_demo_password_passes_the_password_rules() -> None:
    for person in roster():
        context = context_words_for(
            person.username, person.display_name, person.email, ESTABLISHMENT_NAME
        )
        reasons = check_new_password(
            DEMO_PASSWORD, min_length=12, context_words=context, blocklist=ShippedBlocklist()
        )
        assert reasons == ()


def test_the_finess_number_is_nine_digits_and_fictional() -> None:
    assert len(FINESS) == 9
    assert FINESS.isdigit()
    assert FINESS.startswith("99")
