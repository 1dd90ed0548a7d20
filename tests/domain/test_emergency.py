"""Emergency-access rules (no I/O): who may ask, what a request needs, reviews, gate decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from quivive.domain.emergency import (
    EmergencyPolicy,
    EmergencyRequest,
    Refusal,
    ReviewStatus,
    UseState,
    check_request,
    check_witness,
    clean_review,
    clean_text,
    due_for_closing,
    next_sweep_floor,
)
from quivive.domain.gate import GateRule, Identity, Outcome, Reason, decide, parse_original
from quivive.domain.sessions import AssuranceLevel
from quivive.errors import EmergencyRefused, ValidationError

NOW = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
POLICY = EmergencyPolicy(roles=frozenset({"infirmier"}), min_justification=20)
WHY = "Patient en détresse, téléphone resté à la maison."


def refusal(policy: EmergencyPolicy, request: EmergencyRequest) -> str:
    with pytest.raises(EmergencyRefused) as caught:
        check_request(policy, request)
    return caught.value.reason


def test_only_listed_roles_may_break_the_glass() -> None:
    assert POLICY.allows(("infirmier", "x"))
    assert not POLICY.allows(("secretaire",))
    assert not EmergencyPolicy().allows(("infirmier",))  # off by default


def test_a_request_needs_a_known_reason_and_a_real_justification() -> None:
    assert refusal(POLICY, EmergencyRequest("hurry", WHY)) == Refusal.UNKNOWN_REASON
    short = EmergencyRequest("factor_lost", "   urgent  \x00\x07          ")
    assert refusal(POLICY, short) == Refusal.JUSTIFICATION_TOO_SHORT
    cleaned = check_request(POLICY, EmergencyRequest("factor_lost", f"  {WHY}\r\n", "  "))
    assert cleaned.justification == WHY
    assert cleaned.witness_name is None


def test_two_person_mode_needs_a_named_colleague_who_is_someone_else() -> None:
    strict = EmergencyPolicy(roles=frozenset({"infirmier"}), two_person=True)
    assert refusal(strict, EmergencyRequest("factor_lost", WHY)) == Refusal.WITNESS_REQUIRED
    with pytest.raises(EmergencyRefused):
        check_witness(7, 7)
    check_witness(7, 8)


def test_justifications_count_characters_not_bytes() -> None:
    policy = EmergencyPolicy(min_justification=5)
    assert check_request(policy, EmergencyRequest("other", "é" * 5)).justification == "é" * 5
    assert clean_text("a\u0301" * 3, 10) == "á" * 3  # NFC: one character each


def test_a_review_is_justified_or_unjustified_with_a_comment() -> None:
    assert clean_review("justified", " ok ") == (ReviewStatus.JUSTIFIED, "ok")
    for status, comment in (("pending", "x"), ("maybe", "x"), ("unjustified", "  ")):
        with pytest.raises(ValidationError):
            clean_review(status, comment)


# --- the gate ------------------------------------------------------------------------------------

RULES = (
    GateRule("dpi.hopital.example", roles=("infirmier",), min_aal=AssuranceLevel.AAL2),
    GateRule("dpi.hopital.example", "/soins", min_aal=AssuranceLevel.AAL3, allow_emergency=True),
    GateRule("rh.hopital.example", roles=("rh",), allow_emergency=True),
)


def emergency(roles: tuple[str, ...] = ("infirmier",)) -> Identity:
    return Identity("alice", "Alice", None, roles, AssuranceLevel.AAL1, True, emergency=True)


def test_a_rule_refuses_an_emergency_session_unless_it_allows_it() -> None:
    denied = decide(
        RULES, parse_original("GET", "https://dpi.hopital.example/x"), emergency(), None
    )
    allowed = decide(
        RULES, parse_original("GET", "https://dpi.hopital.example/soins/1"), emergency(), None
    )

    assert (denied.outcome, denied.reason) == (Outcome.DENY, Reason.EMERGENCY_REFUSED)
    assert allowed.outcome is Outcome.ALLOW  # whatever min_aal says: no step-up out of it


def test_allow_emergency_still_checks_roles() -> None:
    url = parse_original("GET", "https://rh.hopital.example/")
    assert decide(RULES, url, emergency(), None).reason is Reason.MISSING_ROLE


def state(
    use_id: int, *, ends: timedelta, live: bool, age: timedelta = timedelta(hours=3)
) -> UseState:
    start = NOW - age
    return UseState(use_id, 1, f"h{use_id}", start, NOW + ends, live)


def test_the_sweep_closes_only_live_sessions_past_their_end() -> None:
    states = [
        state(1, ends=-timedelta(hours=1), live=True),
        state(2, ends=-timedelta(hours=1), live=False),  # signed out, or closed by another node
        state(3, ends=timedelta(minutes=5), live=True),
        state(4, ends=timedelta(0), live=True),  # ends now: closed now
    ]
    assert [s.id for s in due_for_closing(states, NOW)] == [1, 4]


def test_the_sweep_floor_stays_below_running_and_recent_uses() -> None:
    running = [
        state(5, ends=-timedelta(hours=1), live=False),
        state(6, ends=timedelta(1), live=True),
    ]
    assert next_sweep_floor(running, 5, NOW) == 6
    recent = [state(7, ends=-timedelta(hours=1), live=False, age=timedelta(minutes=1))]
    assert next_sweep_floor(recent, 7, NOW) == 7  # may still see an earlier id commit late
    closed = [
        state(8, ends=-timedelta(hours=1), live=False),
        state(9, ends=-timedelta(1), live=False),
    ]
    assert next_sweep_floor(closed, 8, NOW) == 10
    assert next_sweep_floor([], 11, NOW) == 11
