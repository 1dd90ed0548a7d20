"""Creating and managing accounts: the rules for usernames, passwords and status changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from quivive.clock import Clock
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.passwords import Blocklist, check_new_password, context_words_for
from quivive.domain.users import (
    NewUser,
    User,
    UserStatus,
    clean_display_name,
    clean_email,
    clean_professional_id,
    clean_roles,
    normalise_username,
)
from quivive.errors import PasswordRejected
from quivive.services.mfa import Origin
from quivive.services.password_hashing import PasswordHasher
from quivive.services.sessions import SessionService
from quivive.storage.users import UserRepository


@dataclass(frozen=True, slots=True)
class PasswordRules:
    min_length: int
    establishment_name: str
    blocklist: Blocklist


@dataclass(frozen=True, slots=True)
class NewAccount:
    """What an administrator or the set-up page asks for; validated by ``AccountService``."""

    username: str
    password: str | None = None
    display_name: str | None = None
    email: str | None = None
    roles: Sequence[str] = ()
    professional_id: str | None = None


class AccountService:
    def __init__(
        self,
        users: UserRepository,
        sessions: SessionService,
        hasher: PasswordHasher,
        rules: PasswordRules,
        audit: AuditSink,
        clock: Clock,
        *,
        min_length: Callable[[], int] | None = None,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._hasher = hasher
        self._rules = rules
        # The minimum in force (a console override, services.policies); else the rules' own.
        self._min_length = min_length or (lambda: rules.min_length)
        self._audit = audit
        self._clock = clock

    def validate_new(self, account: NewAccount) -> NewUser:
        """Every check that can fail, before anything is written (no half-created users)."""
        username = normalise_username(account.username)
        display_name = clean_display_name(account.display_name, fallback=username)
        email = clean_email(account.email)
        password_hash = None
        if account.password is not None:
            self._check_password(account.password, username, display_name, email)
            password_hash = self._hasher.hash(account.password)
        return NewUser(
            username=username,
            display_name=display_name,
            email=email,
            roles=clean_roles(list(account.roles)),
            professional_id=clean_professional_id(account.professional_id),
            password_hash=password_hash,
        )

    def create(self, account: NewAccount, *, actor: str, origin: Origin | None = None) -> User:
        return self.add_validated(self.validate_new(account), actor=actor, origin=origin)

    def add_validated(self, new: NewUser, *, actor: str, origin: Origin | None = None) -> User:
        user = self._users.add(new, now=self._clock.now())
        self._record("user.created", actor, user.username, origin)
        return user

    def find(self, raw_username: str) -> User | None:
        return self._users.find_by_username(normalise_username(raw_username))

    def get(self, raw_username: str) -> User:
        return self._users.get_by_username(normalise_username(raw_username))

    def list(self) -> list[User]:
        return self._users.list(limit=1_000_000)

    def set_password(self, raw_username: str, password: str, *, actor: str) -> int:
        """Change the password and end every session of the account; returns sessions ended."""
        user = self.get(raw_username)
        self._check_password(password, user.username, user.display_name, user.email)
        self._users.set_password_hash(user.id, self._hasher.hash(password))
        ended = self._sessions.end_all_for_user(user.id)
        self._record("password.changed", actor, user.username)
        return ended

    def check_password_for(self, user: User, password: str) -> None:
        """Raise ``PasswordRejected`` when ``password`` breaks the rules for ``user``."""
        self._check_password(password, user.username, user.display_name, user.email)

    def disable(self, raw_username: str, *, actor: str, origin: Origin | None = None) -> int:
        """Disable the account and end all its sessions; returns sessions ended."""
        user = self.get(raw_username)
        self._users.set_status(user.id, UserStatus.DISABLED)
        ended = self._sessions.end_all_for_user(user.id)
        self._record("user.disabled", actor, user.username, origin)
        return ended

    def enable(self, raw_username: str, *, actor: str, origin: Origin | None = None) -> None:
        user = self.get(raw_username)
        self._users.set_status(user.id, UserStatus.ACTIVE)
        self._record("user.enabled", actor, user.username, origin)

    def _check_password(
        self, password: str, username: str, display_name: str, email: str | None
    ) -> None:
        context = context_words_for(username, display_name, email, self._rules.establishment_name)
        reasons = check_new_password(
            password,
            min_length=self._min_length(),
            context_words=context,
            blocklist=self._rules.blocklist,
        )
        if reasons:
            raise PasswordRejected(reasons)

    def _record(self, action: str, actor: str, subject: str, origin: Origin | None = None) -> None:
        where = origin or Origin()
        self._audit.record(
            AuditEvent(
                action=action,
                outcome=Outcome.SUCCESS,
                at=self._clock.now(),
                actor=actor,
                subject=subject,
                source_address=where.source_address,
                user_agent=where.user_agent,
                request_id=where.request_id,
            )
        )
