"""Feeds the account page's "recent sign-ins" from the audit events, then passes them on."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from quivive.domain.audit import AuditEvent, AuditSink
from quivive.domain.users import normalise_username
from quivive.errors import QuiviveError
from quivive.storage.sign_ins import SignIn, SignInRepository
from quivive.storage.users import UserRepository

log = logging.getLogger(__name__)

SIGN_IN_PREFIX = "login."
# Failures for names that match no account say nothing to any user: not kept here.
_IGNORED_REASONS = frozenset({"unknown_user"})
MAX_CACHED_USERS = 10_000


class SignInRecorder:
    """An ``AuditSink`` decorator: every ``login.*`` event of a known user is also kept for them."""

    def __init__(self, inner: AuditSink, users: UserRepository, sign_ins: SignInRepository) -> None:
        self._inner = inner
        self._users = users
        self._sign_ins = sign_ins
        # username -> user id: a sign-in is on the hot path, and both never change for a user.
        self._ids: dict[str, int] = {}

    def record(self, event: AuditEvent) -> None:
        self._inner.record(event)
        if event.action.startswith(SIGN_IN_PREFIX) and event.reason not in _IGNORED_REASONS:
            self._keep(event)

    def _keep(self, event: AuditEvent) -> None:
        if not event.subject:
            return
        try:
            user_id = self._user_id(normalise_username(event.subject))
            if user_id is None:
                return
            sign_in = SignIn(
                at=event.at,
                method=event.action,
                outcome=event.outcome.value,
                source_address=event.source_address,
                user_agent=event.user_agent,
            )
            self._sign_ins.add(user_id, sign_in)
        except (QuiviveError, SQLAlchemyError) as exc:  # the audit record is what matters
            self._ids.clear()  # e.g. the user was deleted since cached
            log.warning("sign-in not kept for the account page: %s", exc)

    def _user_id(self, username: str) -> int | None:
        cached = self._ids.get(username)
        if cached is not None:
            return cached
        user = self._users.find_by_username(username)
        if user is None:
            return None
        if len(self._ids) >= MAX_CACHED_USERS:
            self._ids.clear()
        self._ids[username] = user.id
        return user.id
