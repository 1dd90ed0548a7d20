"""MFA policy rules stored in the database (set by ``quivive policy set-mfa``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, Row, delete, insert, select, update

from quivive.domain.mfa_policy import MfaRule
from quivive.storage.tables import mfa_rules
from quivive.storage.unit_of_work import connection, transaction

# Built once: every sign-in reads the rules in force (MFA standing).
_LIST = select(mfa_rules).order_by(mfa_rules.c.role)


class MfaRuleRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> list[MfaRule]:
        with connection(self._engine) as conn:
            rows = conn.execute(_LIST).all()
        return [_to_rule(row) for row in rows]

    def put(self, rule: MfaRule, *, now: datetime, actor: str) -> None:
        """Insert or replace the rule for ``rule.role``."""
        values = {
            "enforce_from": rule.enforce_from,
            "grace_days": rule.grace_days,
            "phishing_resistant": rule.phishing_resistant,
            "updated_at": now,
            "updated_by": actor,
        }
        with transaction(self._engine) as conn:
            changed = conn.execute(
                update(mfa_rules).where(mfa_rules.c.role == rule.role).values(**values)
            ).rowcount
            if not changed:
                conn.execute(insert(mfa_rules).values(role=rule.role, **values))

    def remove(self, role: str) -> bool:
        with transaction(self._engine) as conn:
            return conn.execute(delete(mfa_rules).where(mfa_rules.c.role == role)).rowcount == 1


def _to_rule(row: Row[tuple[object, ...]]) -> MfaRule:
    m = row._mapping
    return MfaRule(
        role=m["role"],
        enforce_from=m["enforce_from"],
        grace_days=m["grace_days"],
        phishing_resistant=bool(m["phishing_resistant"]),
    )
