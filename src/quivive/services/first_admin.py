"""The one-time link that lets the first administrator choose a password.

On a fresh install nobody can sign in; printing a short-lived, single-use link at start-up is safer
than a default password (ANSSI: no default credentials) and needs no e-mail set-up.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from quivive.clock import Clock
from quivive.domain.sessions import hash_token, new_session_token
from quivive.domain.users import ADMIN_ROLE, User
from quivive.errors import SetupTokenInvalid, ValidationError
from quivive.services.accounts import AccountService, NewAccount
from quivive.storage.setup_tokens import SetupTokenRepository
from quivive.storage.users import UserRepository

SETUP_LINK_LIFETIME = timedelta(hours=1)
SETUP_PURPOSE = "first_admin"


class FirstAdminSetup:
    def __init__(
        self,
        tokens: SetupTokenRepository,
        users: UserRepository,
        accounts: AccountService,
        public_url: str,
        clock: Clock,
    ) -> None:
        self._tokens = tokens
        self._users = users
        self._accounts = accounts
        self._public_url = public_url
        self._clock = clock

    def needed(self) -> bool:
        return not self._users.has_active_with_role(ADMIN_ROLE)

    def issue_link(self) -> str | None:
        """A fresh set-up URL when no active administrator exists, else None."""
        if not self.needed():
            return None
        token, token_hash = new_session_token()
        now = self._clock.now()
        self._tokens.add(token_hash, SETUP_PURPOSE, now=now, expires_at=now + SETUP_LINK_LIFETIME)
        return f"{self._public_url}/setup/{token}"

    def is_valid(self, token: str) -> bool:
        return self.needed() and self._tokens.is_usable(
            hash_token(token), SETUP_PURPOSE, self._clock.now()
        )

    def complete(self, token: str, account: NewAccount) -> User:
        """Create the first administrator; the link works once, and only while no admin exists."""
        if not self.is_valid(token):
            raise SetupTokenInvalid("set-up link unknown, used or expired")
        if account.password is None:
            # An admin without a password could not sign in, yet would end set-up: a lock-out.
            raise ValidationError(
                "the first administrator needs a password", field="password", reason="required"
            )
        # replace() keeps every field the caller gave (professional_id included).
        admin = dataclasses.replace(account, roles=(*account.roles, ADMIN_ROLE))
        # Validate (and hash) before consuming, so a rejected password does not burn the link.
        validated = self._accounts.validate_new(admin)
        if not self._tokens.consume(hash_token(token), SETUP_PURPOSE, self._clock.now()):
            raise SetupTokenInvalid("set-up link already used")
        return self._accounts.add_validated(validated, actor="setup-link")
