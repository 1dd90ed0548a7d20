"""Multi-factor sign-in: the ``SecondFactor`` strategy, its registry, and the session upgrade.

How a factor plugs in (Kratos-style "login flow x strategy"):

1. Write a class that satisfies ``SecondFactor`` (no inheritance; mypy checks the Protocol):
   ``name`` (stable, used in audit actions ``login.<name>`` and in URLs; its label for the chooser
   and account pages goes in ``web.messages.FACTOR_LABELS``), ``amr_values`` (the RFC 8176
   values it can add; see ``domain.assurance``), ``phishing_resistant``, ``is_backup`` (True
   only for recovery codes: usable to sign in, not an enrolment the policy counts),
   ``verify_path`` (the page where the user proves it during sign-in or step-up; it receives
   ``?next=...&level=N``), ``enrol_path`` (where the account page sends the user to add one, or
   None), and the credential methods ``credentials`` / ``rename`` / ``remove`` / ``remove_all``
   used by the account page.
2. Register an instance in the list given to ``FactorRegistry`` in ``composition.build_services``.
3. Serve ``verify_path`` yourself. Reach the half-signed-in session with
   ``quivive.web.mfa_flow.pending_session(request)``; when your factor accepts the proof, build a
   ``domain.assurance.Verification(factor=name, amr=(...), credential_id=...)`` and return
   ``await quivive.web.mfa_flow.finish_verification(request, pending, verification, next_url)``:
   it calls ``MfaService.upgrade`` (new session identifier, old one revoked, level and ``amr``
   recomputed, timeouts recomputed for the new level, ``login.<name>`` audited) and redirects.
   Audit a refused proof with ``MfaService.record_failure``.
4. Enrolment pages: check ``MfaService.require_recent_auth`` (ASVS: re-authentication within
   5 minutes before adding a factor), then audit with ``MfaService.record_factor_change``
   ("factor.added"). A factor verified during enrolment may upgrade the session the same way.

Everything here is synchronous (storage calls); the web edge runs it in the thread pool.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from quivive.clock import Clock
from quivive.domain.assurance import Assurance, Verification, assess, combine
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.mfa_policy import (
    MfaRule,
    Requirement,
    requirement_for,
    with_enrolment_mark,
)
from quivive.domain.sessions import AssuranceLevel, Session
from quivive.domain.users import User
from quivive.errors import (
    LastFactorRequired,
    NotFoundError,
    PermissionDenied,
    ReauthenticationRequired,
)
from quivive.services.sessions import SessionService

# ASVS 5.0 V7 / REQUIREMENTS (Sessions): factor and recovery changes need a fresh authentication.
REAUTH_WINDOW = timedelta(minutes=5)
# Names, as shown on the account page; long enough for "iPhone de l'infirmerie, 2e étage".
MAX_CREDENTIAL_NAME_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Credential:
    """One enrolled authenticator, as the account page lists it."""

    factor: str
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


class SecondFactor(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def amr_values(self) -> frozenset[str]: ...

    @property
    def phishing_resistant(self) -> bool: ...

    @property
    def is_backup(self) -> bool: ...

    @property
    def verify_path(self) -> str: ...

    @property
    def enrol_path(self) -> str | None: ...

    def credentials(self, user_id: int) -> list[Credential]:
        """The user's usable (confirmed) credentials of this factor."""
        ...

    def rename(self, user_id: int, credential_id: str, name: str) -> bool: ...

    def remove(self, user_id: int, credential_id: str) -> bool: ...

    def remove_all(self, user_id: int) -> int: ...


class FactorPresence(Protocol):
    """Which factors a user has usable credentials for, in one query
    (``storage.factor_presence.FactorPresenceRepository``)."""

    @property
    def kinds(self) -> frozenset[str]:
        """The factor names it can answer for."""
        ...

    def usable_kinds(self, user_id: int) -> frozenset[str]:
        """The names, among ``kinds``, of the factors ``credentials`` would list something for."""
        ...


class FactorRegistry:
    """The factors this installation offers, in the order the chooser shows them.

    ``presence``, when given, answers ``usable`` in one query instead of one per factor; it must
    know every registered factor, so a new factor cannot be silently taken for unusable.
    """

    def __init__(
        self, factors: Sequence[SecondFactor], *, presence: FactorPresence | None = None
    ) -> None:
        names = [factor.name for factor in factors]
        if len(set(names)) != len(names):
            raise ValueError(f"factor registered twice: {names}")
        if presence is not None and not set(names) <= presence.kinds:
            unknown = sorted(set(names) - presence.kinds)
            raise ValueError(f"factor presence does not know {unknown}")
        self._factors = tuple(factors)
        self._presence = presence

    def __iter__(self) -> Iterator[SecondFactor]:
        return iter(self._factors)

    def get(self, name: str) -> SecondFactor:
        for factor in self._factors:
            if factor.name == name:
                return factor
        raise NotFoundError(f"no factor named {name!r}")

    def usable(self, user_id: int) -> list[SecondFactor]:
        """Factors the user can prove now (backup ones included)."""
        if self._presence is None:
            return [factor for factor in self._factors if factor.credentials(user_id)]
        present = self._presence.usable_kinds(user_id)
        return [factor for factor in self._factors if factor.name in present]

    def primary_credentials(self, user_id: int) -> list[Credential]:
        return [
            credential
            for factor in self._factors
            if not factor.is_backup
            for credential in factor.credentials(user_id)
        ]


class RuleSource(Protocol):
    def rules(self) -> list[MfaRule]: ...


class EnrolmentMarks(Protocol):
    """The per-user "must enrol at next sign-in" mark (``storage.users.UserRepository``)."""

    def clear_enrolment_required(self, user_id: int) -> bool: ...


class Step(enum.Enum):
    """What a signed-in request must do before it reaches an ordinary page."""

    PROCEED = "proceed"
    SECOND_FACTOR = "second_factor"  # prove an enrolled factor (sign-in or step-up)
    ENROL_REQUIRED = "enrol_required"  # the policy deadline passed and nothing suitable enrolled


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, for the audit trail."""

    source_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Standing:
    """One user's MFA situation: policy, enrolments and what the session still owes."""

    requirement: Requirement
    enrolled: tuple[SecondFactor, ...]  # primary factors with at least one credential
    usable: tuple[SecondFactor, ...]  # every factor the user can prove, backups included
    needed: AssuranceLevel
    step: Step

    @property
    def has_second_factor(self) -> bool:
        return bool(self.enrolled)


class MfaService:
    def __init__(
        self,
        factors: FactorRegistry,
        rules: RuleSource,
        sessions: SessionService,
        audit: AuditSink,
        clock: Clock,
        *,
        marks: EnrolmentMarks,
    ) -> None:
        self.factors = factors
        self._rules = rules
        self._sessions = sessions
        self._audit = audit
        self._clock = clock
        self._marks = marks

    # --- what the policy asks -----------------------------------------------------------------

    def requirement(self, user: User) -> Requirement:
        # The mark travels on the user row the caller already loaded: no query of its own.
        found = requirement_for(user.roles, self._rules.rules(), self._clock.now())
        return with_enrolment_mark(found, user.enrolment_required_at)

    def standing(
        self,
        user: User,
        session: Session | None = None,
        *,
        level: AssuranceLevel = AssuranceLevel.AAL1,
    ) -> Standing:
        """Where ``session`` stands (None: one just made by a password alone); ``level`` is what
        the page asks for (step-up)."""
        aal, amr = (session.aal, session.amr) if session else (AssuranceLevel.AAL1, ("pwd",))
        requirement = self.requirement(user)
        usable = tuple(self.factors.usable(user.id))
        enrolled = tuple(factor for factor in usable if not factor.is_backup)
        needed = level
        if enrolled or requirement.required:
            needed = max(needed, AssuranceLevel.AAL2)
        step = _step(requirement, enrolled, aal, amr, needed)
        if session is not None and session.emergency:
            # Emergency access stands in for the owed factor, at its own level: ordinary pages
            # open, anything asking more than AAL1 does not (and the session cannot step up).
            step = Step.PROCEED if level <= AssuranceLevel.AAL1 else Step.SECOND_FACTOR
        return Standing(requirement, enrolled, usable, needed, step)

    # --- session upgrades -----------------------------------------------------------------------

    def upgrade(
        self,
        token: str,
        user: User,
        verification: Verification,
        origin: Origin,
        *,
        session: Session | None = None,
    ) -> tuple[str, Assurance]:
        """A factor was proved: a new session identifier at the new level; the old one is revoked.

        ``session`` is the session of ``token`` when the caller already holds it (saves a read).
        Raises ``SessionInvalid`` if the session ended meanwhile (or a parallel upgrade won).
        """
        session = session or self._sessions.find_live(token)
        assurance = combine(session.amr, verification.amr)
        new_token = self._sessions.rotate(
            token,
            amr=assurance.amr,
            aal=assurance.level,
            source_address=origin.source_address,
            user_agent=origin.user_agent,
            current=session,
        )
        details = {"aal": str(int(assurance.level)), "amr": " ".join(assurance.amr)}
        if verification.credential_id:
            details["credential"] = verification.credential_id
        self._record(f"login.{verification.factor}", Outcome.SUCCESS, user, origin, None, details)
        return new_token, assurance

    def reauthenticated(self, token: str, user: User, origin: Origin, method: str = "pwd") -> str:
        """The user proved it again (``method``: the password or a passkey): new identifier and
        ``auth_time``, same level."""
        session = self._sessions.find_live(token)
        assurance = assess(session.amr)
        new_token = self._sessions.rotate(
            token,
            amr=assurance.amr,
            aal=max(assurance.level, session.aal),
            source_address=origin.source_address,
            user_agent=origin.user_agent,
            current=session,
        )
        self._record("reauthentication", Outcome.SUCCESS, user, origin, None, {"method": method})
        return new_token

    def require_recent_auth(self, session: Session) -> None:
        if session.emergency:
            # A password alone must never add or remove a factor, whatever the emergency.
            raise PermissionDenied("factor changes are not allowed in an emergency session")
        if self._clock.now() - session.auth_time > REAUTH_WINDOW:
            raise ReauthenticationRequired()

    # --- factor changes -------------------------------------------------------------------------

    def remove_credential(
        self, user: User, session: Session, factor_name: str, credential_id: str, origin: Origin
    ) -> None:
        """Remove one credential after the re-authentication and last-factor checks."""
        self.require_recent_auth(session)
        factor = self.factors.get(factor_name)
        if not factor.is_backup:
            self._check_not_last(user, factor, credential_id)
        if not factor.remove(user.id, credential_id):
            raise NotFoundError(f"no {factor_name} credential {credential_id!r}")
        if not factor.is_backup and not self.factors.primary_credentials(user.id):
            # Recovery codes back up a factor; alone they would be a second password.
            for backup in self.factors:
                if backup.is_backup:
                    backup.remove_all(user.id)
        self.record_factor_change("factor.removed", user, factor_name, credential_id, origin)

    def factor_enrolled(self, user: User, factor_name: str, origin: Origin) -> bool:
        """A factor was enrolled and confirmed: lift the administrator's "must enrol" mark when
        that factor satisfies what the user owes (``enrolment.completed``). Recovery codes never
        do: alone they would be a second password."""
        factor = self.factors.get(factor_name)
        if not user.must_enrol or factor.is_backup or not factor.credentials(user.id):
            return False
        if self.requirement(user).phishing_resistant and not factor.phishing_resistant:
            return False  # the role's passkey-only rule: the wall stays until a passkey
        if not self._marks.clear_enrolment_required(user.id):
            return False  # a parallel enrolment lifted it first
        self._record(
            "enrolment.completed", Outcome.SUCCESS, user, origin, None, {"factor": factor_name}
        )
        return True

    def rename_credential(
        self, user: User, factor_name: str, credential_id: str, name: str, origin: Origin
    ) -> None:
        if not self.factors.get(factor_name).rename(user.id, credential_id, name):
            raise NotFoundError(f"no {factor_name} credential {credential_id!r}")
        self.record_factor_change("factor.renamed", user, factor_name, credential_id, origin)

    def _check_not_last(self, user: User, factor: SecondFactor, credential_id: str) -> None:
        requirement = self.requirement(user)
        if not requirement.required:
            return
        remaining = [
            (other, credential)
            for other in self.factors
            if not other.is_backup
            for credential in other.credentials(user.id)
            if not (other.name == factor.name and credential.id == credential_id)
        ]
        if requirement.phishing_resistant:
            remaining = [item for item in remaining if item[0].phishing_resistant]
        if not remaining:
            raise LastFactorRequired()

    # --- audit ----------------------------------------------------------------------------------

    def record_factor_change(
        self, action: str, user: User, factor: str, credential_id: str, origin: Origin
    ) -> None:
        details = {"factor": factor, "credential": credential_id}
        self._record(action, Outcome.SUCCESS, user, origin, None, details)

    def record_failure(self, user: User, factor: str, reason: str, origin: Origin) -> None:
        self._record(f"login.{factor}", Outcome.FAILURE, user, origin, reason, {})

    def _record(
        self,
        action: str,
        outcome: Outcome,
        user: User,
        origin: Origin,
        reason: str | None,
        details: dict[str, str],
    ) -> None:
        self._audit.record(
            AuditEvent(
                action=action,
                outcome=outcome,
                at=self._clock.now(),
                actor=user.username,
                subject=user.username,
                reason=reason,
                source_address=origin.source_address,
                user_agent=origin.user_agent,
                request_id=origin.request_id,
                details=details,
            )
        )


def _step(
    requirement: Requirement,
    enrolled: tuple[SecondFactor, ...],
    aal: AssuranceLevel,
    amr: tuple[str, ...],
    needed: AssuranceLevel,
) -> Step:
    # Order matters: a user who has a factor proves it before any enrolment page opens, so a
    # stolen password alone can never add the thief's own authenticator.
    if aal < needed and enrolled:
        return Step.SECOND_FACTOR
    if requirement.required:
        suitable = [
            f for f in enrolled if f.phishing_resistant or not requirement.phishing_resistant
        ]
        if not suitable:
            return Step.ENROL_REQUIRED
        if requirement.phishing_resistant and not assess(amr).phishing_resistant:
            return Step.SECOND_FACTOR
    if aal < needed:
        return Step.SECOND_FACTOR if enrolled else Step.ENROL_REQUIRED
    return Step.PROCEED
