"""Set-up and re-enrolment links: an administrator sends a user a one-time link to choose a
password, then sign in and enrol a second factor.

The first-administrator link's mechanism, per user: a random token whose SHA-256 is stored in
``setup_tokens`` with the purpose ``enrolment:<user id>``, usable once, until it expires
(``admin.enrolment_link_lifetime``). A new link retires the earlier ones. It is e-mailed when the
user has an address and e-mail is configured; otherwise the administrator is shown it to hand
over. The token is never written to the audit trail or the logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from quivive.clock import Clock
from quivive.domain.admin_roles import Action, is_console_user
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.sessions import hash_token, new_session_token
from quivive.domain.users import User, UserStatus
from quivive.errors import NotFoundError, SetupTokenInvalid
from quivive.services.accounts import AccountService
from quivive.services.admin import AdminActor, AdminService
from quivive.services.mailer import Mailer
from quivive.storage.setup_tokens import SetupTokenRepository
from quivive.storage.users import UserRepository

PURPOSE_PREFIX = "enrolment:"
PATH = "/enrol/"

MAIL = {
    "fr": (
        "Votre accès à {establishment}",
        "Bonjour {name},\n\n{actor} vous invite à choisir votre mot de passe puis à ajouter une "
        "seconde méthode de connexion (clé d'accès ou application d'authentification) :\n\n"
        "{url}\n\nCe lien ne fonctionne qu'une fois, jusqu'au {until} (UTC). Si vous n'attendiez "
        "pas ce message, ne cliquez pas et prévenez le service informatique.\n",
    ),
    "en": (
        "Your access to {establishment}",
        "Hello {name},\n\n{actor} invites you to choose your password, then to add a second "
        "sign-in method (a passkey or an authenticator app):\n\n{url}\n\nThis link works once, "
        "until {until} (UTC). If you did not expect this message, do not click it and tell the "
        "IT team.\n",
    ),
}


@dataclass(frozen=True, slots=True)
class IssuedLink:
    url: str
    expires_at: datetime
    emailed_to: str | None  # None: the administrator hands the link over


@dataclass(frozen=True, slots=True)
class LinkSettings:
    public_url: str
    lifetime: timedelta
    establishment: str
    language: str


class EnrolmentLinks:
    def __init__(
        self,
        admin: AdminService,
        stores: tuple[SetupTokenRepository, UserRepository],
        accounts: AccountService,
        mailer: Mailer,
        audit: AuditSink,
        clock: Clock,
        settings: LinkSettings,
    ) -> None:
        self._admin = admin
        self._tokens, self._users = stores
        self._accounts = accounts
        self._mailer = mailer
        self._audit = audit
        self._clock = clock
        self._settings = settings

    def issue(self, actor: AdminActor, user_id: int) -> IssuedLink:
        """A new link for the user (earlier ones stop working); e-mailed when possible."""
        self._admin.authorize(actor, Action.MANAGE_FACTORS, str(user_id))
        user = self._admin.user(actor, user_id)
        if is_console_user(user.roles) and user.id != actor.user_id:
            self._admin.authorize(actor, Action.MANAGE_ADMINS, user.username)
        now = self._clock.now()
        purpose = f"{PURPOSE_PREFIX}{user.id}"
        self._tokens.retire(purpose, now)
        token, token_hash = new_session_token()
        expires_at = now + self._settings.lifetime
        self._tokens.add(token_hash, purpose, now=now, expires_at=expires_at)
        url = f"{self._settings.public_url}{PATH}{token}"
        emailed = user.email if user.email and self._send(user, actor, url, expires_at) else None
        details = {"expires": expires_at.isoformat(), "delivery": "email" if emailed else "shown"}
        self._record("admin.enrolment_link_sent", actor.name, user.username, actor, details)
        return IssuedLink(url, expires_at, emailed)

    def user_for(self, token: str) -> User | None:
        """The active user a usable link is for, or None (unknown, used, expired)."""
        purpose = self._tokens.purpose_of(hash_token(token), self._clock.now())
        if purpose is None or not purpose.startswith(PURPOSE_PREFIX):
            return None
        try:
            user = self._users.get(int(purpose.removeprefix(PURPOSE_PREFIX)))
        except NotFoundError:
            return None
        return user if user.status is UserStatus.ACTIVE else None

    def complete(self, token: str, password: str) -> User:
        """Set the user's password and use up the link (a refused password keeps it usable)."""
        user = self.user_for(token)
        if user is None:
            raise SetupTokenInvalid("enrolment link unknown, used or expired")
        self._accounts.check_password_for(user, password)
        purpose = f"{PURPOSE_PREFIX}{user.id}"
        if not self._tokens.consume(hash_token(token), purpose, self._clock.now()):
            raise SetupTokenInvalid("enrolment link already used")
        self._accounts.set_password(user.username, password, actor="enrolment-link")
        self._record("user.enrolment_link_used", user.username, user.username, None, {})
        return user

    def _send(self, user: User, actor: AdminActor, url: str, until: datetime) -> bool:
        subject, body = MAIL.get(self._settings.language, MAIL["en"])
        values = {
            "establishment": self._settings.establishment,
            "name": user.display_name,
            "actor": actor.name,
            "url": url,
            "until": until.strftime("%Y-%m-%d %H:%M"),
        }
        return bool(user.email) and self._mailer.send(
            user.email or "", subject.format(**values), body.format(**values)
        )

    def _record(
        self,
        action: str,
        actor: str,
        subject: str,
        origin_actor: AdminActor | None,
        details: dict[str, str],
    ) -> None:
        origin = origin_actor.origin if origin_actor else None
        self._audit.record(
            AuditEvent(
                action=action,
                outcome=Outcome.SUCCESS,
                at=self._clock.now(),
                actor=actor,
                subject=subject,
                source_address=origin.source_address if origin else None,
                user_agent=origin.user_agent if origin else None,
                request_id=origin.request_id if origin else None,
                details=details,
            )
        )
