"""The admin console's and API's operations, each checked against the role table and audited.

Every method takes the acting administrator first. ``authorize`` is the one guard: an action the
actor's roles do not allow is recorded (``admin.forbidden``, outcome failure) and refused with
``PermissionDenied``; the edges turn that into a 403 page or JSON body. Allowed changes are
audited with the administrator as actor and the request's origin.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from quivive.clock import Clock
from quivive.domain.admin_roles import (
    CONSOLE_ROLES,
    Action,
    allowed,
    is_console_user,
    is_phishing_resistant,
    touches_admins,
)
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.audit_chain import ChainRecord, format_time, to_json
from quivive.domain.mfa_policy import MfaRule
from quivive.domain.sessions import Session
from quivive.domain.throttling import KeyKind, account_key, source_key
from quivive.domain.users import (
    User,
    clean_display_name,
    clean_email,
    clean_professional_id,
    clean_roles,
)
from quivive.errors import NotFoundError, PermissionDenied, ValidationError
from quivive.services.accounts import AccountService, NewAccount
from quivive.services.audit import AuditTrail, VerifyReport
from quivive.services.mfa import Credential, FactorRegistry, Origin
from quivive.services.mfa_policy import MfaPolicyService, RuleInForce
from quivive.services.sessions import SessionService
from quivive.services.throttling import LoginThrottle, ThrottleEntry
from quivive.storage.admin_queries import (
    AdminQueries,
    AuditPage,
    AuditQuery,
    Coverage,
    UserPage,
    UserQuery,
)
from quivive.storage.outbound_deliveries import OutboundDeliveryRepository
from quivive.storage.setup_tokens import SetupTokenRepository
from quivive.storage.sign_ins import SignIn, SignInRepository
from quivive.storage.users import UserRepository

HOUR_WIDTH = len("2026-01-15T08")
DAY_WIDTH = len("2026-01-15")
# `quivive admin recover`: long enough to sign in and enrol a passkey, short enough that a
# forgotten waiver does not leave the console open to phishable sign-ins for the day.
RECOVERY_WINDOW = timedelta(hours=1)
RECOVERY_PURPOSE = "admin-recovery:{user_id}"
MAX_REASON_LENGTH = 256
RECENT_SIGN_INS = 20
RECENT_ALERTS = 10
MAX_USER_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class AdminActor:
    """Who is acting: an administrator's session, or a service account's ``admin`` token."""

    name: str  # username, or "client:<client_id>"
    roles: frozenset[str]
    user_id: int | None = None
    origin: Origin = field(default_factory=Origin)


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A partial edit: None leaves a field as it is ("" clears an optional one)."""

    display_name: str | None = None
    email: str | None = None
    professional_id: str | None = None
    roles: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class UserDetail:
    user: User
    sessions: list[Session]
    sign_ins: list[SignIn]
    credentials: list[Credential]
    throttled: list[ThrottleEntry]


@dataclass(frozen=True, slots=True)
class Bar:
    """One period of a chart: its label, failed sign-ins and throttle triggers."""

    label: str
    failures: int
    throttles: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    coverage: list[Coverage]
    password_only: list[User]
    active_sessions: int
    throttled_accounts: list[ThrottleEntry]
    last_day: list[Bar] = field(default_factory=list)  # 24 hours, oldest first
    last_month: list[Bar] = field(default_factory=list)  # 30 days, oldest first
    alerts: list[ChainRecord] = field(default_factory=list)  # officer alerts, newest first
    last_verification: ChainRecord | None = None  # the newest audit.verified record
    # Alerts, e-mails and logout notices given up after every retry: SMTP or webhook is broken.
    failed_deliveries: int = 0


@dataclass(frozen=True, slots=True)
class AdminStores:
    queries: AdminQueries
    users: UserRepository
    tokens: SetupTokenRepository
    sign_ins: SignInRepository
    trail: AuditTrail
    deliveries: OutboundDeliveryRepository


class AdminService:
    def __init__(
        self,
        stores: AdminStores,
        accounts: AccountService,
        sessions: SessionService,
        factors: FactorRegistry,
        throttle: LoginThrottle,
        audit: AuditSink,
        clock: Clock,
        *,
        policy: MfaPolicyService,
    ) -> None:
        self._stores = stores
        self._trail = stores.trail
        self._accounts = accounts
        self._sessions = sessions
        self._factors = factors
        self._throttle = throttle
        self._audit = audit
        self._clock = clock
        self._policy = policy

    # --- the guard ------------------------------------------------------------------------------

    def authorize(self, actor: AdminActor, action: Action, subject: str | None = None) -> None:
        if allowed(actor.roles, action):
            return
        self._record(actor, "admin.forbidden", subject, Outcome.FAILURE, reason=action.value)
        raise PermissionDenied(f"{action.value} is not allowed for {actor.name}", action=action)

    def refuse_console(self, actor: AdminActor, reason: str) -> None:
        """Audit a refused console sign-in (no console role, or no phishing-resistant factor)."""
        self._record(actor, "admin.console_refused", actor.name, Outcome.FAILURE, reason=reason)

    def may_enter(self, user: User, session: Session, *, require_phishing_resistant: bool) -> str:
        """ "" when this session may use the console, else the refusal reason code."""
        if not is_console_user(user.roles):
            return "no_console_role"
        if session.emergency:
            return "emergency_session"  # break-glass is for care, never for administration
        if not require_phishing_resistant or is_phishing_resistant(session):
            return ""
        return "" if self.recovery_until(user.id) else "phishing_resistant_required"

    # --- recovery (`quivive admin recover`) -----------------------------------------------------

    def grant_recovery(self, raw_username: str, *, actor: str) -> datetime:
        """Lift the phishing-resistant requirement for one administrator for a while; audited."""
        user = self._accounts.get(raw_username)
        if not is_console_user(user.roles):
            raise ValidationError(f"{user.username} has no console role ({_roles_text()})")
        now = self._clock.now()
        until = now + RECOVERY_WINDOW
        purpose = RECOVERY_PURPOSE.format(user_id=user.id)
        self._stores.tokens.add(secrets.token_hex(32), purpose, now=now, expires_at=until)
        self._audit.record(
            AuditEvent(
                action="admin.recovery_granted",
                outcome=Outcome.SUCCESS,
                at=now,
                actor=actor,
                subject=user.username,
                details={"until": until.isoformat(timespec="seconds")},
            )
        )
        return until

    def recovery_until(self, user_id: int) -> datetime | None:
        purpose = RECOVERY_PURPOSE.format(user_id=user_id)
        return self._stores.queries.live_token_until(purpose, self._clock.now())

    # --- reading --------------------------------------------------------------------------------

    def dashboard(self, actor: AdminActor) -> Dashboard:
        self.authorize(actor, Action.VIEW_DASHBOARD)
        now = self._clock.now()
        queries = self._stores.queries
        throttled: dict[str, ThrottleEntry] = {}
        for entry in self._throttle.entries():
            held = entry.not_before is not None or entry.password_alone_insufficient
            if held and entry.key.kind is not KeyKind.SOURCE:
                throttled.setdefault(entry.key.account, entry)
        return Dashboard(
            coverage=queries.coverage(),
            password_only=queries.password_only(),
            active_sessions=queries.active_sessions(now),
            throttled_accounts=list(throttled.values()),
            last_day=self._bars(now, timedelta(hours=1), 24, HOUR_WIDTH),
            last_month=self._bars(now, timedelta(days=1), 30, DAY_WIDTH),
            alerts=queries.recent_alerts(RECENT_ALERTS),
            last_verification=queries.last_record("audit.verified"),
            failed_deliveries=self._stores.deliveries.count_failed(),
        )

    def _bars(self, now: datetime, step: timedelta, count: int, width: int) -> list[Bar]:
        first = now - step * (count - 1)
        counts = self._stores.queries.failures_by_period(format_time(first)[:width], width)
        periods = [format_time(first + step * index)[:width] for index in range(count)]
        return [Bar(period, *counts.get(period, (0, 0))) for period in periods]

    def export_audit(
        self, actor: AdminActor, since: datetime | None, query: AuditQuery | None = None
    ) -> Iterator[str]:
        """JSON Lines of the records since ``since``, or of those ``query`` selects, oldest
        first (the export itself is audited first, with its filters)."""
        self.authorize(actor, Action.VIEW_AUDIT)
        details = {"since": since.isoformat() if since else "start", "format": "jsonl"}
        if query is not None:
            details |= _audit_filters(query)
        self._record(actor, "audit.exported", None, details=details)
        if query is not None:
            for record in self._stores.queries.audit_records(query):
                yield to_json(record) + "\n"
            return
        with self._trail.export(since) as records:
            for record in records:
                yield to_json(record) + "\n"

    def verify_audit(self, actor: AdminActor) -> VerifyReport:
        """Check the whole chain (hashes, links, signed checkpoints); audited."""
        self.authorize(actor, Action.VIEW_AUDIT)
        report = self._trail.verify()
        outcome = Outcome.SUCCESS if report.ok else Outcome.FAILURE
        details = {"checked": str(report.verdict.checked)}
        self._record(actor, "audit.verified", None, outcome, details=details)
        return report

    def users(self, actor: AdminActor, query: UserQuery) -> UserPage:
        self.authorize(actor, Action.VIEW_USERS)
        return self._stores.queries.users_page(query)

    def user(self, actor: AdminActor, user_id: int) -> User:
        self.authorize(actor, Action.VIEW_USERS)
        return self._existing(user_id)

    def _existing(self, user_id: int) -> User:
        if not 0 < user_id <= MAX_USER_ID:  # an id from a URL, beyond any database integer
            raise NotFoundError(f"no user with id {user_id}")
        return self._stores.users.get(user_id)

    def detail(self, actor: AdminActor, user_id: int) -> UserDetail:
        user = self.user(actor, user_id)
        credentials = [c for factor in self._factors for c in factor.credentials(user.id)]
        throttled = [
            entry for entry in self._throttle.entries() if entry.key.account == user.username
        ]
        return UserDetail(
            user=user,
            sessions=self._sessions.list_for_user(user.id),
            sign_ins=self._stores.sign_ins.recent(user.id, RECENT_SIGN_INS),
            credentials=credentials,
            throttled=throttled,
        )

    def factors_of(self, actor: AdminActor, user_id: int) -> list[Credential]:
        user = self.user(actor, user_id)
        return [c for factor in self._factors for c in factor.credentials(user.id)]

    def sessions_of(self, actor: AdminActor, user_id: int) -> list[Session]:
        user = self.user(actor, user_id)
        return self._sessions.list_for_user(user.id)

    def throttles(self, actor: AdminActor) -> list[ThrottleEntry]:
        self.authorize(actor, Action.MANAGE_THROTTLES)
        return self._throttle.entries()

    def audit_page(self, actor: AdminActor, query: AuditQuery) -> AuditPage:
        self.authorize(actor, Action.VIEW_AUDIT)
        return self._stores.queries.audit_page(query)

    def mfa_rules(self, actor: AdminActor) -> list[RuleInForce]:
        self.authorize(actor, Action.VIEW_DASHBOARD)
        return self._policy.in_force()

    def set_mfa_rule(self, actor: AdminActor, rule: MfaRule) -> MfaRule:
        """Require a second factor for a role from a date, with grace days (``policy.changed``)."""
        self.authorize(actor, Action.MANAGE_POLICIES, f"role:{rule.role}"[:256])
        return self._policy.set_rule(rule, actor=actor.name, origin=actor.origin)

    # --- changing -------------------------------------------------------------------------------

    def create_user(self, actor: AdminActor, account: NewAccount) -> User:
        subject = account.username[:256]
        self.authorize(actor, Action.MANAGE_USERS, subject)
        if touches_admins(clean_roles(list(account.roles))):
            self.authorize(actor, Action.MANAGE_ADMINS, subject)
        return self._accounts.create(account, actor=actor.name, origin=actor.origin)

    def update_user(self, actor: AdminActor, user_id: int, changes: UserChanges) -> User:
        user = self._target(actor, user_id, Action.MANAGE_USERS)
        values: dict[str, str | None] = {}
        if changes.display_name is not None:
            values["display_name"] = clean_display_name(changes.display_name, user.username)
        if changes.email is not None:
            values["email"] = clean_email(changes.email)
        if changes.professional_id is not None:
            values["professional_id"] = clean_professional_id(changes.professional_id)
        roles = None if changes.roles is None else clean_roles(list(changes.roles))
        if roles is not None and touches_admins(roles):
            self.authorize(actor, Action.MANAGE_ADMINS, user.username)
        if roles is not None and user.id == actor.user_id and not is_console_user(roles):
            raise ValidationError("you cannot remove your own console role", reason="self")
        if values:
            self._stores.users.update_profile(user.id, **values)
        if roles is not None and roles != user.roles:
            self._stores.users.set_roles(user.id, roles)
            values["roles"] = " ".join(roles)
        if values:
            self._record(actor, "user.updated", user.username, details={"fields": _keys(values)})
        return self._stores.users.get(user.id)

    def set_enabled(self, actor: AdminActor, user_id: int, *, enabled: bool) -> User:
        user = self._target(actor, user_id, Action.MANAGE_USERS)
        if not enabled and user.id == actor.user_id:
            raise ValidationError("you cannot disable your own account", reason="self")
        if enabled:
            self._accounts.enable(user.username, actor=actor.name, origin=actor.origin)
        else:
            self._accounts.disable(user.username, actor=actor.name, origin=actor.origin)
        return self._stores.users.get(user.id)

    def reset_factors(self, actor: AdminActor, user_id: int, reason: str) -> int:
        """Remove every second factor and end every session: the user re-enrols at next sign-in."""
        user = self._target(actor, user_id, Action.MANAGE_FACTORS)
        reason = " ".join(reason.split())[:MAX_REASON_LENGTH]
        if not reason:
            raise ValidationError("a reason is required", field="reason", reason="empty")
        # Marked before the factors go: never a moment with neither a factor nor the mark, when
        # a password alone would do for a role without an MFA rule (a stolen phone's owner).
        self._stores.users.require_enrolment(user.id, self._clock.now())
        removed = sum(factor.remove_all(user.id) for factor in self._factors)
        ended = self._sessions.end_all_for_user(user.id)
        details = {"removed": str(removed), "sessions_ended": str(ended), "reason": reason}
        details["enrolment_required"] = "yes"
        self._record(actor, "factors.reset", user.username, details=details)
        return removed

    def revoke_session(self, actor: AdminActor, user_id: int, token_hash: str) -> bool:
        user = self._target(actor, user_id, Action.MANAGE_SESSIONS)
        ended = self._sessions.end_for_user(user.id, token_hash)
        if ended:
            self._record(actor, "session.revoked", user.username, details={"by": "admin"})
        return ended

    def revoke_all_sessions(self, actor: AdminActor, user_id: int) -> int:
        user = self._target(actor, user_id, Action.MANAGE_SESSIONS)
        ended = self._sessions.end_all_for_user(user.id)
        self._record(actor, "session.revoked_all", user.username, details={"ended": str(ended)})
        return ended

    def clear_throttle(self, actor: AdminActor, target: str) -> int:
        """Forget an account's or address's counters; an administrator's throttle, like every
        other change to a console account, needs ``MANAGE_ADMINS``."""
        self.authorize(actor, Action.MANAGE_THROTTLES, target[:256])
        for name in sorted(self._accounts_cleared_with(target)):
            user = self._stores.users.find_by_username(name)
            if user is not None and is_console_user(user.roles) and user.id != actor.user_id:
                self.authorize(actor, Action.MANAGE_ADMINS, user.username)
        return self._throttle.clear(target, actor=actor.name, origin=actor.origin)

    def _accounts_cleared_with(self, target: str) -> set[str]:
        """The account named, and those whose address-and-account counters an address's clear
        forgets too: clearing an attacker's address must not lift the brake on an admin."""
        account, source = account_key(target), source_key(target)
        paired = {e.key.account for e in self._throttle.entries() if e.key.source == source}
        return {account} | {name for name in paired if name}

    def _target(self, actor: AdminActor, user_id: int, action: Action) -> User:
        """The user to change, once the actor may: console accounts need ``MANAGE_ADMINS``."""
        self.authorize(actor, action, str(user_id))
        user = self._existing(user_id)
        if is_console_user(user.roles) and user.id != actor.user_id:
            self.authorize(actor, Action.MANAGE_ADMINS, user.username)
        return user

    def _record(
        self,
        actor: AdminActor,
        action: str,
        subject: str | None,
        outcome: Outcome = Outcome.SUCCESS,
        *,
        reason: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        self._audit.record(
            AuditEvent(
                action=action,
                outcome=outcome,
                at=self._clock.now(),
                actor=actor.name,
                subject=subject,
                reason=reason,
                source_address=actor.origin.source_address,
                user_agent=actor.origin.user_agent,
                request_id=actor.origin.request_id,
                details=details or {},
            )
        )


def _audit_filters(query: AuditQuery) -> dict[str, str]:
    names = ("actor", "subject", "action", "outcome", "since", "until", "source")
    values = {name: getattr(query, name) for name in names}
    return {f"filter_{name}": str(value) for name, value in values.items() if value}


def _keys(values: dict[str, str | None]) -> str:
    return " ".join(sorted(values))


def _roles_text() -> str:
    return ", ".join(sorted(CONSOLE_ROLES))
