"""The MFA policy in force: rules from the TOML file, replaced role by role by database rules.

The TOML ``[[mfa.rules]]`` entries are the installation's defaults, under version control with
the rest of the configuration. ``quivive policy set-mfa`` (and the admin console) writes rules to
the database; a database rule for a role replaces the file's rule for that role. ``quivive policy
show`` prints both, with their source.

Every sign-in and every signed-in page asks for the rules, so the merged rules are kept in memory
like the console's other policies (``services.policies``): a change applies at once on the node
that made it and within ``REFRESH_INTERVAL`` on the others (a ``quivive policy set-mfa``
included), without a query per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quivive.clock import Clock
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.mfa_policy import MfaRule
from quivive.domain.users import clean_roles
from quivive.errors import ValidationError
from quivive.services.mfa import Origin
from quivive.services.refreshed import Refreshed
from quivive.storage.mfa_rules import MfaRuleRepository


@dataclass(frozen=True, slots=True)
class RuleInForce:
    rule: MfaRule
    source: str  # "database" or "config"


class MfaPolicyService:
    """Implements ``services.mfa.RuleSource``."""

    def __init__(
        self,
        configured: Sequence[MfaRule],
        repository: MfaRuleRepository,
        audit: AuditSink,
        clock: Clock,
    ) -> None:
        self._configured = tuple(configured)
        self._repository = repository
        self._audit = audit
        self._clock = clock
        self._merged = Refreshed(lambda: self._merge(self._repository.list()), clock)

    def rules(self) -> list[MfaRule]:
        return [item.rule for item in self._current()]

    def in_force(self) -> list[RuleInForce]:
        return list(self._current())

    def set_rule(self, rule: MfaRule, *, actor: str, origin: Origin | None = None) -> MfaRule:
        where = origin or Origin()
        roles = clean_roles([rule.role])
        if len(roles) != 1:
            raise ValidationError("a role is required", field="role", reason="empty")
        if rule.grace_days < 0:
            raise ValidationError("grace days must not be negative", field="grace_days")
        cleaned = MfaRule(roles[0], rule.enforce_from, rule.grace_days, rule.phishing_resistant)
        self._repository.put(cleaned, now=self._clock.now(), actor=actor)
        self._current(force=True)  # this node applies its own change at once
        details = {
            "role": cleaned.role,
            "from": cleaned.enforce_from.isoformat(),
            "grace_days": str(cleaned.grace_days),
            "phishing_resistant": str(cleaned.phishing_resistant).lower(),
        }
        self._audit.record(
            AuditEvent(
                action="policy.changed",
                outcome=Outcome.SUCCESS,
                at=self._clock.now(),
                actor=actor,
                subject=f"role:{cleaned.role}",
                source_address=where.source_address,
                user_agent=where.user_agent,
                request_id=where.request_id,
                details=details,
            )
        )
        return cleaned

    # --- the cache ------------------------------------------------------------------------------

    def _current(self, *, force: bool = False) -> tuple[RuleInForce, ...]:
        return self._merged.get(force=force)

    def _merge(self, stored: Sequence[MfaRule]) -> tuple[RuleInForce, ...]:
        merged = {rule.role: RuleInForce(rule, "config") for rule in self._configured}
        merged.update({rule.role: RuleInForce(rule, "database") for rule in stored})
        return tuple(merged[role] for role in sorted(merged))
