"""Emergency access ("bris de glace"): who may break the glass, with what, and for how long.

A carer who must act now but cannot prove their second factor (phone at home, key lost) may
open a short session with their password and a written justification. What makes it acceptable
(REQUIREMENTS, Emergency access; HIPAA 164.312(a)(2)(ii); the DMP's "bris de glace"): it is
limited in time and in number, visible to relying parties as its own ``acr``, alerted at once
and reviewed afterwards. No I/O here: the service feeds in the facts and stores the outcome.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from quivive.errors import EmergencyRefused, ValidationError

# Uses are counted over a sliding 30 days (issue 8: "uses per user per 30 days").
LIMIT_WINDOW = timedelta(days=30)
DEFAULT_DURATION = timedelta(hours=2)  # issue 8: "default 2 h, not renewable"
DEFAULT_MAX_USES = 3  # a few a month covers forgotten phones; more is a habit to look at
DEFAULT_MIN_JUSTIFICATION = 20  # a sentence, not "urgent"
DEFAULT_REVIEW_OVERDUE_DAYS = 7
MAX_JUSTIFICATION_LENGTH = 2000
MAX_WITNESS_NAME_LENGTH = 200
MAX_REVIEW_COMMENT_LENGTH = 2000
# The expiry sweep reads uses from a watermark id on; it keeps every use started this recently
# above the watermark, because an insert may commit after a later id did (PostgreSQL sequences)
# and nodes' clocks differ by a little.
SWEEP_SETTLE = timedelta(minutes=5)
# What an emergency session proves: the password only (RFC 8176 "pwd"), never more.
EMERGENCY_AMR = ("pwd",)


class Reason(enum.StrEnum):
    """Why the glass was broken: the requester picks one and explains in free text."""

    PATIENT_EMERGENCY = "patient_emergency"
    FACTOR_FORGOTTEN = "factor_forgotten"
    FACTOR_LOST = "factor_lost"
    FACTOR_BROKEN = "factor_broken"
    OTHER = "other"


class ReviewStatus(enum.StrEnum):
    # Stored as is in emergency_accesses.review_status (read by the posture report too).
    PENDING = "pending"
    JUSTIFIED = "justified"
    UNJUSTIFIED = "unjustified"


class Refusal(enum.StrEnum):
    """Stable codes for a refused request (audit ``reason``, page messages)."""

    ROLE_NOT_ALLOWED = "role_not_allowed"
    BAD_PASSWORD = "bad_password"  # noqa: S105 - a refusal code, not a password
    UNKNOWN_REASON = "unknown_reason"
    JUSTIFICATION_TOO_SHORT = "justification_too_short"
    WITNESS_REQUIRED = "witness_required"
    WITNESS_IS_REQUESTER = "witness_is_requester"
    WITNESS_FAILED = "witness_failed"
    LIMIT_REACHED = "limit_reached"
    ALREADY_STRONG = "already_strong"
    # No factor enrolled and the role's enrolment deadline passed: emergency access is for a
    # factor one cannot use right now, never a way around enrolling one.
    NO_FACTOR_ENROLLED = "no_factor_enrolled"


@dataclass(frozen=True, slots=True)
class EmergencyPolicy:
    roles: frozenset[str] = frozenset()  # empty: nobody may break the glass
    duration: timedelta = DEFAULT_DURATION
    max_uses: int = DEFAULT_MAX_USES  # per user per LIMIT_WINDOW
    min_justification: int = DEFAULT_MIN_JUSTIFICATION
    two_person: bool = False  # a colleague confirms with their own strong factor
    review_overdue: timedelta = timedelta(days=DEFAULT_REVIEW_OVERDUE_DAYS)
    # Off: a user past the enrolment deadline with no factor at all is told to enrol one.
    allow_without_factor: bool = False

    def allows(self, roles: Iterable[str]) -> bool:
        return not self.roles.isdisjoint(roles)

    def window_start(self, now: datetime) -> datetime:
        return now - LIMIT_WINDOW

    def overdue_before(self, now: datetime) -> datetime:
        """Uses started before this and still pending are overdue for review."""
        return now - self.review_overdue


@dataclass(frozen=True, slots=True)
class EmergencyRequest:
    """What the requester typed (the password is checked apart and never kept)."""

    reason: str
    justification: str
    witness_name: str | None = None


@dataclass(frozen=True, slots=True)
class EmergencyAccess:
    """One use, as stored in ``emergency_accesses``."""

    id: int
    user_id: int
    started_at: datetime
    expires_at: datetime
    session_token_hash: str | None
    reason: str
    justification: str
    witness_name: str | None
    witness_user_id: int | None
    source_address: str | None
    review_status: ReviewStatus
    reviewed_by_user_id: int | None
    reviewed_at: datetime | None
    review_comment: str | None


@dataclass(frozen=True, slots=True)
class UseState:
    """What the expiry sweep reads of one use: its end and whether its session is still live."""

    id: int
    user_id: int
    session_token_hash: str | None
    started_at: datetime
    expires_at: datetime
    session_live: bool  # the session row exists and is not revoked


def due_for_closing(states: Iterable[UseState], now: datetime) -> list[UseState]:
    """Uses past their end whose session nobody has revoked yet."""
    return [s for s in states if s.session_live and s.expires_at <= now]


def next_sweep_floor(states: Iterable[UseState], floor: int, now: datetime) -> int:
    """The lowest id the next sweep must read again, once ``states`` (ids >= ``floor``) are done.

    Kept: uses still running, and recent ones (``SWEEP_SETTLE``); everything below is closed for
    good, so each sweep reads a handful of rows by primary key, however long the history.
    """
    seen = list(states)
    settling = now - SWEEP_SETTLE
    kept = [
        s.id for s in seen if (s.session_live and s.expires_at > now) or s.started_at > settling
    ]
    if kept:
        return min(kept)
    return max((s.id + 1 for s in seen), default=floor)


def clean_text(raw: str, max_length: int) -> str:
    """NFC, control characters other than line breaks dropped, trimmed, cut at ``max_length``."""
    text = unicodedata.normalize("NFC", raw).replace("\r\n", "\n")
    kept = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")
    return kept.strip()[:max_length]


def check_request(policy: EmergencyPolicy, request: EmergencyRequest) -> EmergencyRequest:
    """The request cleaned, or ``EmergencyRefused`` naming the first rule it breaks."""
    if request.reason not in set(Reason):
        raise EmergencyRefused(Refusal.UNKNOWN_REASON)
    justification = clean_text(request.justification, MAX_JUSTIFICATION_LENGTH)
    # Code points, as for passwords: "é" counts one however it was typed (NFC above).
    if len(justification) < policy.min_justification:
        raise EmergencyRefused(Refusal.JUSTIFICATION_TOO_SHORT)
    witness = clean_text(request.witness_name or "", MAX_WITNESS_NAME_LENGTH) or None
    if policy.two_person and witness is None:
        raise EmergencyRefused(Refusal.WITNESS_REQUIRED)
    return EmergencyRequest(request.reason, justification, witness)


def check_witness(requester_id: int, witness_id: int) -> None:
    """The colleague confirming must be someone else: one person cannot be their own witness."""
    if requester_id == witness_id:
        raise EmergencyRefused(Refusal.WITNESS_IS_REQUESTER)


def clean_review(status: str, comment: str) -> tuple[ReviewStatus, str]:
    """A review decision: justified or unjustified (never back to pending), with a comment."""
    try:
        decided = ReviewStatus(status)
    except ValueError:
        decided = ReviewStatus.PENDING
    if decided is ReviewStatus.PENDING:
        raise ValidationError("a review marks the use justified or unjustified")
    text = clean_text(comment, MAX_REVIEW_COMMENT_LENGTH)
    if not text:
        raise ValidationError("a review needs a comment")
    return decided, text
