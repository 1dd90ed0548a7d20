"""One-time codes (TOTP, recovery codes) checked under the account's guess limit.

Whoever reaches the code page already holds the password, so the code is the last thing standing
between them and the account: a 6-digit code guessed without limit falls in a few hours. Every
check goes through ``LoginThrottle.admit_code`` first (NIST SP 800-63B-4 rate limiting: a delay
after the free attempts, and no more than 100 consecutive failures), then counts as a success or
a failure. The emergency-access witness's code goes through here too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from quivive.domain.users import User
from quivive.errors import CodesThrottled
from quivive.services.throttling import LoginThrottle
from quivive.storage.users import UserRepository

# (user id, code) -> the id of the credential that accepted it, or None.
CodeCheck = Callable[[int, str], str | None]


class CodeGuard:
    def __init__(
        self, throttle: LoginThrottle, checks: Mapping[str, CodeCheck], users: UserRepository
    ) -> None:
        self._throttle = throttle
        self._checks = dict(checks)
        self._users = users

    def check(self, user: User, factor: str, code: str, source_address: str | None) -> str | None:
        """The credential accepting ``code`` for ``factor``, or None; ``CodesThrottled`` when
        this account's codes may not be tried now."""
        attempt = self._throttle.admit_code(user.username, source_address)
        if not attempt.allowed:
            raise CodesThrottled(not_before=attempt.not_before, exhausted=attempt.exhausted)
        credential = self._checks[factor](user.id, code)
        if credential is None:
            self._throttle.code_failed(attempt)
        else:
            self._throttle.code_succeeded(attempt)
        return credential

    def totp_of(self, user_id: int, code: str) -> str | None:
        """``check`` for someone known by id only (the emergency witness); a throttled account's
        code counts as wrong: the caller audits and alerts every failed confirmation anyway."""
        user = self._users.get(user_id)
        try:
            return self.check(user, "totp", code, None)
        except CodesThrottled:
            return None
