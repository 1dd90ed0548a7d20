"""Emergency access ("bris de glace"): grant a short password-only session, alert, review.

The web edge checks the password (through the throttled ``PasswordAuthenticator``) and then
calls ``grant``. Every step is audited: ``emergency.requested``, ``emergency.refused`` (with the
``domain.emergency.Refusal`` code as reason), ``emergency.witness_confirmed`` /
``emergency.witness_failed``, ``emergency.granted`` (the user is e-mailed by ``UserNotifier``),
``emergency.ended`` (signed out), ``emergency.expired`` and ``emergency.reviewed`` (the officer
as actor). The security officer is alerted on each grant and on each use refused at the limit.

``record_use`` records a use without opening a session (``quivive demo`` seeds one with it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from quivive.clock import Clock
from quivive.domain.admin_roles import Action, allowed
from quivive.domain.alerts import Alert, AlertSink
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.emergency import (
    EmergencyAccess,
    EmergencyPolicy,
    EmergencyRequest,
    Refusal,
    ReviewStatus,
    UseState,
    check_request,
    check_witness,
    clean_review,
    due_for_closing,
    next_sweep_floor,
)
from quivive.domain.sessions import new_session_token
from quivive.domain.users import User, normalise_username
from quivive.errors import (
    ConflictError,
    EmergencyRefused,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from quivive.services.admin import AdminActor
from quivive.services.mfa import MfaService, Origin
from quivive.services.sessions import SessionService
from quivive.storage.emergency_accesses import (
    EmergencyAccessRepository,
    EmergencyPage,
    NewEmergencyAccess,
)
from quivive.storage.users import UserRepository

GRANTED_ALERT = "emergency.granted"
LIMIT_ALERT = "emergency.limit_reached"
WITNESS_ALERT = "emergency.witness_failed"
# Part of the justification copied into the alert: enough to judge, bounded for e-mail subjects.
ALERT_JUSTIFICATION_CHARS = 500
MAX_CODE_LENGTH = 16


@dataclass(frozen=True, slots=True)
class WitnessProof:
    """The colleague present, confirming on the same screen: their username and TOTP code, or
    their passkey (``passkey``: the ceremony token and the browser's response), which names them."""

    username: str = ""
    code: str = ""
    passkey: tuple[str, str] | None = None


# (ceremony token, assertion, origin) -> the colleague whose key signed it with UV, or None.
PasskeyWitness = Callable[[str, str, Origin], User | None]


@dataclass(frozen=True, slots=True)
class EmergencyGrant:
    token: str  # the new session's cookie value
    access: EmergencyAccess


@dataclass(frozen=True, slots=True)
class EmergencyStores:
    accesses: EmergencyAccessRepository
    users: UserRepository


def enrolment_owed_by(mfa: MfaService) -> Callable[[User], bool]:
    """Whether a user must enrol now and has no factor at all, not even backup codes."""

    def owes(user: User) -> bool:
        standing = mfa.standing(user)
        return standing.requirement.required and not standing.usable

    return owes


class EmergencyAccessService:
    def __init__(
        self,
        policy: EmergencyPolicy,
        stores: EmergencyStores,
        sessions: SessionService,
        verify_code: Callable[[int, str], str | None],
        audit: AuditSink,
        alerts: AlertSink,
        clock: Clock,
        *,
        owes_enrolment: Callable[[User], bool] = lambda _user: False,
        verify_passkey: PasskeyWitness = lambda _token, _response, _origin: None,
    ) -> None:
        self._verify_passkey = verify_passkey
        self.policy = policy
        # Past the role's enrolment deadline with no factor at all (``enrolment_owed_by``).
        self._owes_enrolment = owes_enrolment
        self._stores = stores
        self._sessions = sessions
        self._verify_code = verify_code  # TOTP of the witness: (user_id, code) -> credential
        self._audit = audit
        self._alerts = alerts
        self._clock = clock
        # Uses below this id are closed for good: the expiry sweep reads from here on.
        self._sweep_floor = 0
        self._sweep_lock = threading.Lock()

    # --- asking --------------------------------------------------------------------------------

    def offered_to(self, user: User) -> bool:
        """Whether the second-factor page shows this user the emergency path."""
        return self.policy.allows(user.roles)

    def unavailable_because(self, user: User) -> Refusal | None:
        """Why the emergency path is closed to this user, if it is (the page says so)."""
        if not self.policy.allows(user.roles):
            return Refusal.ROLE_NOT_ALLOWED
        if not self.policy.allow_without_factor and self._owes_enrolment(user):
            # Breaking the glass stands in for a factor one cannot use right now; with none to
            # use, it would be a way around enrolment, renewable every time.
            return Refusal.NO_FACTOR_ENROLLED
        return None

    def requested(self, user: User, origin: Origin) -> None:
        """Audit the request; refuse at once a user the path is closed to."""
        self._record("emergency.requested", Outcome.SUCCESS, user.username, user, origin)
        self._check_open_to(user, origin)

    def _check_open_to(self, user: User, origin: Origin) -> None:
        refusal = self.unavailable_because(user)
        if refusal is not None:
            self.refuse(user, refusal, origin)

    def refuse(self, user: User, reason: Refusal, origin: Origin) -> NoReturn:
        """Audit a refusal and raise it (``EmergencyRefused``)."""
        self._record("emergency.refused", Outcome.FAILURE, user.username, user, origin, reason)
        raise EmergencyRefused(reason)

    def remaining_uses(self, user: User) -> int:
        now = self._clock.now()
        used = self._stores.accesses.count_since(user.id, self.policy.window_start(now))
        return max(0, self.policy.max_uses - used)

    def grant(
        self,
        user: User,
        request: EmergencyRequest,
        origin: Origin,
        *,
        witness: WitnessProof | None = None,
    ) -> EmergencyGrant:
        """The password was checked: open the emergency session, or raise ``EmergencyRefused``."""
        self._check_open_to(user, origin)
        try:
            cleaned = check_request(self.policy, request)
        except EmergencyRefused as exc:
            self.refuse(user, Refusal(exc.reason), origin)
        witness_user = None
        if self.policy.two_person:
            witness_user = self._confirm_witness(user, witness, origin)
        token, token_hash = new_session_token()
        access = self._insert(user, cleaned, origin, token_hash, witness_user)
        self._sessions.start_emergency(
            user,
            token_hash,
            lifetime=access.expires_at - access.started_at,
            source_address=origin.source_address,
            user_agent=origin.user_agent,
        )
        self._granted(user, access, origin)
        return EmergencyGrant(token, access)

    def record_use(
        self,
        user: User,
        reason: str,
        justification: str,
        *,
        witness_name: str | None = None,
        origin: Origin | None = None,
    ) -> EmergencyAccess:
        """Record (and alert) a use without opening a session: for seeding and imports.

        The same checks as ``grant`` but the witness proof; refused past the limit.
        """
        origin = origin or Origin()
        request = EmergencyRequest(reason, justification, witness_name)
        try:
            cleaned = check_request(
                EmergencyPolicy(min_justification=self.policy.min_justification), request
            )
        except EmergencyRefused as exc:
            self.refuse(user, Refusal(exc.reason), origin)
        access = self._insert(user, cleaned, origin, None, None)
        self._granted(user, access, origin)
        return access

    def _insert(
        self,
        user: User,
        request: EmergencyRequest,
        origin: Origin,
        token_hash: str | None,
        witness: User | None,
    ) -> EmergencyAccess:
        now = self._clock.now()
        use = NewEmergencyAccess(
            user_id=user.id,
            started_at=now,
            expires_at=now + self.policy.duration,
            session_token_hash=token_hash,
            reason=request.reason,
            justification=request.justification,
            witness_name=request.witness_name,
            witness_user_id=witness.id if witness else None,
            source_address=origin.source_address,
        )
        since, limit = self.policy.window_start(now), self.policy.max_uses
        access = self._stores.accesses.add_within_limit(use, since=since, limit=limit)
        if access is None:
            self._limit_alert(user, origin)
            self.refuse(user, Refusal.LIMIT_REACHED, origin)
        return access

    def _confirm_witness(self, user: User, witness: WitnessProof | None, origin: Origin) -> User:
        if witness is None or not (witness.passkey or witness.username.strip()):
            self.refuse(user, Refusal.WITNESS_REQUIRED, origin)
        found, proved = self._witness(witness, origin)
        if found is not None and found.id == user.id:
            self._record_witness(user, found.username, origin, Refusal.WITNESS_IS_REQUESTER)
            check_witness(user.id, found.id)  # raises
        # One answer for unknown, disabled, without a second factor or a wrong code: no probing.
        if not proved or found is None:
            named = witness.username[:256] or "passkey"
            self._record_witness(user, named, origin, Refusal.WITNESS_FAILED)
            # Each try is a guess at a colleague's code: the officer sees them as they happen.
            self._alerts.send(
                Alert(
                    kind=WITNESS_ALERT,
                    at=self._clock.now(),
                    summary=f"emergency access by {user.username}: colleague confirmation failed",
                    source_address=origin.source_address,
                    details={"account": user.username, "witness": named},
                )
            )
            raise EmergencyRefused(Refusal.WITNESS_FAILED)
        self._record("emergency.witness_confirmed", Outcome.SUCCESS, found.username, user, origin)
        return found

    def _witness(self, witness: WitnessProof, origin: Origin) -> tuple[User | None, bool]:
        """The colleague and whether they proved their presence (active, code or key right)."""
        if witness.passkey is not None:
            found = self._verify_passkey(*witness.passkey, origin)
            return found, found is not None and found.is_active
        found = self._find_user(witness.username)
        return found, found is not None and found.is_active and self._code_ok(found, witness.code)

    def _code_ok(self, witness: User, code: str) -> bool:
        return self._verify_code(witness.id, code[:MAX_CODE_LENGTH]) is not None

    def _record_witness(self, user: User, witness: str, origin: Origin, why: Refusal) -> None:
        self._record("emergency.witness_failed", Outcome.FAILURE, witness, user, origin, why)
        self._record("emergency.refused", Outcome.FAILURE, user.username, user, origin, why)

    def _find_user(self, raw: str) -> User | None:
        try:
            return self._stores.users.find_by_username(normalise_username(raw))
        except ValidationError:
            return None

    def _granted(self, user: User, access: EmergencyAccess, origin: Origin) -> None:
        details = {
            "emergency_access": str(access.id),
            "reason": access.reason,
            "expires_at": access.expires_at.isoformat(),
        }
        if access.witness_name:
            details["witness"] = access.witness_name
        self._record(
            "emergency.granted", Outcome.SUCCESS, user.username, user, origin, details=details
        )
        self._alerts.send(
            Alert(
                kind=GRANTED_ALERT,
                at=access.started_at,
                summary=f"emergency access opened by {user.username} ({access.reason}) until "
                f"{access.expires_at:%Y-%m-%d %H:%M} UTC",
                source_address=origin.source_address,
                details={
                    **details,
                    "account": user.username,
                    "justification": access.justification[:ALERT_JUSTIFICATION_CHARS],
                },
            )
        )

    def _limit_alert(self, user: User, origin: Origin) -> None:
        self._alerts.send(
            Alert(
                kind=LIMIT_ALERT,
                at=self._clock.now(),
                summary=f"emergency access refused to {user.username}: "
                f"{self.policy.max_uses} uses in 30 days already",
                source_address=origin.source_address,
                details={"account": user.username, "limit": str(self.policy.max_uses)},
            )
        )

    # --- the end of a use ------------------------------------------------------------------------

    def session_ended(self, token_hash: str, user_id: int) -> None:
        """``SessionEndListener``: an emergency session signed out (or revoked) early."""
        access = self._stores.accesses.for_session(token_hash)
        if access is None or self._clock.now() >= access.expires_at:
            return
        user = self._stores.users.get(user_id)
        details = {"emergency_access": str(access.id)}
        # Signed out, or revoked by an administrator: the record of that act names who did it.
        self._record(
            "emergency.ended", Outcome.SUCCESS, user.username, None, Origin(), details=details
        )

    def user_sessions_ended(self, user_id: int) -> None:
        """Every session of the user ended (disabled, password changed): nothing more to say."""

    def close_expired(self) -> int:
        """End the emergency sessions past their end and audit each expiry once; the count.

        Run every few seconds by the web server's sweep (and by ``quivive client purge`` and the
        review queue). Each node may run it at the same time: the session's revocation is a
        compare-and-set, and only the node that wins it records ``emergency.expired``.
        """
        with self._sweep_lock:
            now = self._clock.now()
            states = self._stores.accesses.states_from(self._sweep_floor)
            closed = sum(1 for state in due_for_closing(states, now) if self._close(state))
            self._sweep_floor = next_sweep_floor(states, self._sweep_floor, now)
        return closed

    def _close(self, state: UseState) -> bool:
        token_hash = state.session_token_hash or ""
        # Through the session service: the gate of this node and the Redis feed drop it at once.
        if not self._sessions.end_expired(token_hash, state.user_id):
            return False  # another node recorded it first
        user = self._stores.users.get(state.user_id)
        details = {"emergency_access": str(state.id)}
        self._record(
            "emergency.expired", Outcome.SUCCESS, user.username, None, Origin(), details=details
        )
        return True

    # --- review by the security officer ----------------------------------------------------------

    def page(
        self,
        actor: AdminActor,
        *,
        status: ReviewStatus | None = None,
        before: int | None = None,
        limit: int = 50,
        user_id: int | None = None,
    ) -> EmergencyPage:
        self._authorize(actor, Action.VIEW_EMERGENCY)
        self.close_expired()
        accesses = self._stores.accesses
        return accesses.page(status=status, before=before, limit=limit, user_id=user_id)

    def uses_of(self, actor: AdminActor, user_id: int, limit: int) -> EmergencyPage | None:
        """One user's uses, newest first, for their console page; None (nothing audited) for a
        role that does not see emergency access (helpdesk): the page leaves the section out."""
        if not allowed(actor.roles, Action.VIEW_EMERGENCY):
            return None
        return self.page(actor, limit=limit, user_id=user_id)

    def get(self, actor: AdminActor, access_id: int) -> EmergencyAccess:
        self._authorize(actor, Action.VIEW_EMERGENCY)
        access = self._stores.accesses.get(access_id)
        if access is None:
            raise NotFoundError("no such emergency access")
        return access

    def overdue(self, actor: AdminActor) -> list[EmergencyAccess]:
        """Uses still unreviewed after ``review_overdue_days`` (the dashboard lists them)."""
        self._authorize(actor, Action.VIEW_EMERGENCY)
        before = self.policy.overdue_before(self._clock.now())
        return self._stores.accesses.pending_before(before)

    def review(
        self, actor: AdminActor, access_id: int, status: str, comment: str
    ) -> EmergencyAccess:
        """Mark a use justified or unjustified, with a comment; audited (the officer acting)."""
        self._authorize(actor, Action.REVIEW_EMERGENCY)
        decided, text = clean_review(status, comment)
        access = self.get(actor, access_id)
        now = self._clock.now()
        stores = self._stores
        if not stores.accesses.review(
            access_id, decided, reviewer_id=actor.user_id, at=now, comment=text
        ):
            raise ConflictError("this emergency access was already reviewed")
        subject = self._stores.users.get(access.user_id).username
        self._audit.record(
            AuditEvent(
                action="emergency.reviewed",
                outcome=Outcome.SUCCESS,
                at=now,
                actor=actor.name,
                subject=subject,
                reason=decided.value,
                source_address=actor.origin.source_address,
                user_agent=actor.origin.user_agent,
                request_id=actor.origin.request_id,
                details={"emergency_access": str(access_id)},
            )
        )
        reviewed = stores.accesses.get(access_id)
        if reviewed is None:  # pragma: no cover - uses are not deleted
            raise NotFoundError("no such emergency access")
        return reviewed

    def user_names(self, accesses: list[EmergencyAccess]) -> dict[int, str]:
        """Usernames of the requesters, witnesses and reviewers, for listing."""
        ids = {a.user_id for a in accesses}
        ids |= {a.witness_user_id for a in accesses if a.witness_user_id}
        ids |= {a.reviewed_by_user_id for a in accesses if a.reviewed_by_user_id}
        return {user.id: user.username for user in self._stores.users.get_many(sorted(ids))}

    def _authorize(self, actor: AdminActor, action: Action) -> None:
        """As ``AdminService.authorize``: a refused action is audited, then raised."""
        if allowed(actor.roles, action):
            return
        self._audit.record(
            AuditEvent(
                action="admin.forbidden",
                outcome=Outcome.FAILURE,
                at=self._clock.now(),
                actor=actor.name,
                reason=action.value,
                source_address=actor.origin.source_address,
                user_agent=actor.origin.user_agent,
                request_id=actor.origin.request_id,
            )
        )
        raise PermissionDenied(f"{action.value} is not allowed for {actor.name}", action=action)

    # --- audit -----------------------------------------------------------------------------------

    def _record(
        self,
        action: str,
        outcome: Outcome,
        subject: str,
        actor: User | None,
        origin: Origin,
        reason: str | None = None,
        *,
        details: dict[str, str] | None = None,
    ) -> None:
        self._audit.record(
            AuditEvent(
                action=action,
                outcome=outcome,
                at=self._clock.now(),
                actor=actor.username if actor else "system",
                subject=subject,
                reason=reason,
                source_address=origin.source_address,
                user_agent=origin.user_agent,
                request_id=origin.request_id,
                details=details or {},
            )
        )
