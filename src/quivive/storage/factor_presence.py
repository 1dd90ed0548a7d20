"""Which second factors a user can prove now, in one query (MFA standing, at every sign-in).

Each kind is named as its factor is (``services.mfa.SecondFactor.name``) and counts what that
factor's ``credentials`` lists as usable: any passkey, a confirmed TOTP authenticator (not one
whose enrolment is pending), an unused recovery code.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Engine, Table, bindparam, exists, select

from quivive.storage.driver_sql import DriverStatement
from quivive.storage.tables import recovery_codes, totp_credentials, webauthn_credentials
from quivive.storage.unit_of_work import connection

PASSKEY = "passkey"
TOTP = "totp"
RECOVERY_CODE = "recovery_code"


def _of_user(table: Table) -> ColumnElement[bool]:
    return table.c.user_id == bindparam("user_id")


# Built once: one row of three EXISTS, each stopping at the first matching row of its index.
_PRESENT = DriverStatement(
    select(
        exists().where(_of_user(webauthn_credentials)).label(PASSKEY),
        exists()
        .where(_of_user(totp_credentials), totp_credentials.c.confirmed_at.is_not(None))
        .label(TOTP),
        exists()
        .where(_of_user(recovery_codes), recovery_codes.c.used_at.is_(None))
        .label(RECOVERY_CODE),
    )
)


class FactorPresenceRepository:
    """Implements ``services.mfa.FactorPresence``."""

    kinds = frozenset({PASSKEY, TOTP, RECOVERY_CODE})

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def usable_kinds(self, user_id: int) -> frozenset[str]:
        with connection(self._engine) as conn:
            row = _PRESENT.first(conn, {"user_id": user_id})
        if row is None:
            raise RuntimeError("a query without FROM returned no row")
        return frozenset(kind for kind, present in row._asdict().items() if present)
