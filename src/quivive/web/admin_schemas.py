"""Request and response bodies of the admin API (``/api/admin/v1``), as its OpenAPI shows them."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from quivive.domain.audit_chain import ChainRecord
from quivive.domain.mfa_policy import MfaRule
from quivive.domain.sessions import Session
from quivive.domain.users import (
    MAX_DISPLAY_NAME_LENGTH,
    MAX_EMAIL_LENGTH,
    MAX_PROFESSIONAL_ID_LENGTH,
    MAX_ROLE_LENGTH,
    MAX_USERNAME_LENGTH,
    User,
)
from quivive.services.mfa import Credential
from quivive.services.throttling import ThrottleEntry
from quivive.web.routes.account_security import session_id

MAX_PASSWORD_LENGTH = 256
MAX_ROLES = 32

Role = Annotated[str, Field(min_length=1, max_length=MAX_ROLE_LENGTH)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    error: str = Field(description="A stable code: not_found, forbidden, invalid_input, ...")
    message: str


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    email: str | None
    roles: list[str]
    professional_id: str | None
    status: Literal["active", "disabled"]
    has_password: bool
    created_at: datetime
    last_login_at: datetime | None
    must_enrol: bool = Field(
        description="An administrator reset the user's factors: they must enrol a second factor "
        "at next sign-in, before anything else; false again once they have"
    )
    enrolment_required_at: datetime | None = Field(description="When that reset happened")

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            roles=list(user.roles),
            professional_id=user.professional_id,
            status=user.status.value,
            has_password=user.password_hash is not None,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
            must_enrol=user.must_enrol,
            enrolment_required_at=user.enrolment_required_at,
        )


class UserList(BaseModel):
    items: list[UserOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: end")


class UserCreate(Strict):
    username: str = Field(min_length=1, max_length=MAX_USERNAME_LENGTH)
    display_name: str | None = Field(default=None, max_length=MAX_DISPLAY_NAME_LENGTH)
    email: str | None = Field(default=None, max_length=MAX_EMAIL_LENGTH)
    roles: list[Role] = Field(default_factory=list, max_length=MAX_ROLES)
    professional_id: str | None = Field(default=None, max_length=MAX_PROFESSIONAL_ID_LENGTH)
    password: str | None = Field(
        default=None,
        max_length=MAX_PASSWORD_LENGTH,
        description="Optional; without one the user cannot sign in until given a password",
    )


class UserPatch(Strict):
    display_name: str | None = Field(default=None, max_length=MAX_DISPLAY_NAME_LENGTH)
    email: str | None = Field(default=None, max_length=MAX_EMAIL_LENGTH, description='"": none')
    roles: list[Role] | None = Field(default=None, max_length=MAX_ROLES)
    professional_id: str | None = Field(
        default=None, max_length=MAX_PROFESSIONAL_ID_LENGTH, description='"": none'
    )


class FactorReset(Strict):
    reason: str = Field(min_length=1, max_length=256, description="Recorded in the audit trail")


class ThrottleClear(Strict):
    target: str = Field(min_length=1, max_length=256, description="A username or an address")


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    aal: int
    amr: list[str]
    source_address: str | None
    user_agent: str | None

    @classmethod
    def of(cls, session: Session) -> SessionOut:
        return cls(
            id=session_id(session),
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            expires_at=session.expires_at,
            aal=int(session.aal),
            amr=list(session.amr),
            source_address=session.source_address,
            user_agent=session.user_agent,
        )


class ThrottleOut(BaseModel):
    kind: Literal["account", "pair", "source", "codes"]
    account: str
    source: str
    failures: int
    not_before: datetime | None
    password_alone_insufficient: bool

    @classmethod
    def of(cls, entry: ThrottleEntry) -> ThrottleOut:
        return cls(
            kind=entry.key.kind.value,
            account=entry.key.account,
            source=entry.key.source,
            failures=entry.failures,
            not_before=entry.not_before,
            password_alone_insufficient=entry.password_alone_insufficient,
        )


class Cleared(BaseModel):
    cleared: int


class AuditRecordOut(BaseModel):
    sequence: int
    at: str
    action: str
    outcome: str
    actor: str | None
    subject: str | None
    reason: str | None
    source_address: str | None
    request_id: str | None
    details: dict[str, str]

    @classmethod
    def of(cls, record: ChainRecord) -> AuditRecordOut:
        details = json.loads(record.details)
        return cls(
            sequence=record.sequence,
            at=record.at,
            action=record.action,
            outcome=record.outcome,
            actor=record.actor,
            subject=record.subject,
            reason=record.reason,
            source_address=record.source_address,
            request_id=record.request_id,
            details={str(k): str(v) for k, v in details.items()},
        )


class AuditList(BaseModel):
    items: list[AuditRecordOut]
    next_cursor: str | None


class CsrfToken(BaseModel):
    csrf_token: str = Field(description="Send as the X-CSRF-Token header on unsafe requests")


class MfaRuleIn(Strict):
    enforce_from: date = Field(description="From this day (UTC) the role needs a second factor")
    grace_days: int = Field(
        default=0, ge=0, le=365, description="Days to enrol before sign-in stops"
    )
    phishing_resistant: bool = Field(default=False, description="Only passkeys or security keys")


class MfaRuleOut(BaseModel):
    role: str
    enforce_from: date
    grace_days: int
    phishing_resistant: bool
    source: Literal["database", "config"]

    @classmethod
    def of(cls, rule: MfaRule, source: str) -> MfaRuleOut:
        return cls(
            role=rule.role,
            enforce_from=rule.enforce_from,
            grace_days=rule.grace_days,
            phishing_resistant=rule.phishing_resistant,
            source="config" if source == "config" else "database",
        )


class FactorOut(BaseModel):
    factor: str = Field(description="passkey, totp or recovery_code")
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, credential: Credential) -> FactorOut:
        return cls(
            factor=credential.factor,
            id=credential.id,
            name=credential.name,
            created_at=credential.created_at,
            last_used_at=credential.last_used_at,
        )
