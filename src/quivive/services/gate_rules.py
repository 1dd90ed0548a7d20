"""The forward-auth gate's rules in force: the TOML file's, replaced host+path by database rules.

Where rules live. The ``[[gate.rules]]`` of the configuration file stay the installation's
defaults (under version control, deployed with the rest of the configuration, checked by
``quivive config check``); the admin console and API write rules to the database, where every node
reads them. A database rule for the same host and path prefix replaces the file's rule, exactly as
database MFA rules replace the file's rule for a role: one model for a two-person IT team to learn,
no configuration file rewritten behind a deployment tool's back, and removing a console rule gives
the file's rule back.

How a change reaches the gate. ``/api/verify`` reads rules from memory (``current``, no I/O). A
change on this node replaces that snapshot at once; other nodes notice it on the gate's
once-a-second poll (``refresh``: one read of a revision counter bumped in the change's own
transaction), then reload. No restart anywhere.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from quivive.clock import Clock
from quivive.config.gate import parse_rule
from quivive.domain.audit import AuditEvent, AuditSink, Outcome
from quivive.domain.gate import GateRule, GateSettings
from quivive.errors import ConfigError, NotFoundError, ValidationError
from quivive.services.mfa import Origin
from quivive.storage.gate_rules import GateRuleRepository, StoredRule

log = logging.getLogger(__name__)
MAX_RULE_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class RuleInForce:
    rule: GateRule
    source: str  # "database" or "config"
    id: int | None = None  # database rules only
    updated_at: datetime | None = None
    updated_by: str | None = None
    replaces_file_rule: bool = False


def rule_key(rule: GateRule) -> tuple[str, str]:
    """Two rules with the same key are the same rule (the file refuses such duplicates)."""
    return (rule.host, rule.path_prefix.rstrip("/") or "/")


class GateRuleService:
    def __init__(
        self,
        configured: GateSettings,
        repository: GateRuleRepository,
        audit: AuditSink,
        clock: Clock,
    ) -> None:
        self._configured = configured
        self._repository = repository
        self._audit = audit
        self._clock = clock
        self._snapshot: GateSettings | None = None
        self._revision = -1
        self._lock = threading.Lock()

    # --- the gate's side -----------------------------------------------------------------------

    def current(self) -> GateSettings:
        """The rules in force, from memory (loaded once, on first use, if nothing loaded them)."""
        snapshot = self._snapshot
        return snapshot if snapshot is not None else self._load()

    def warm(self) -> None:
        """Load the rules before the first request needs them (at start-up); a failure is only
        logged: the first ``current`` tries again, and fails closed if it must."""
        try:
            self._load()
        except Exception:
            log.exception("gate rules: could not load them at start-up; trying again on use")

    def refresh(self) -> None:
        """Reload when another node (or the CLI) changed the rules; a failed read keeps the rules
        already in force (they were right at the previous poll) and is retried next poll."""
        try:
            if self._repository.revision() != self._revision:
                self._load()
        except Exception:
            log.exception("gate rules: could not check for changes; keeping the rules in force")

    def _load(self) -> GateSettings:
        with self._lock:
            revision = self._repository.revision()
            rules = tuple(item.rule for item in self._merge(self._repository.list()))
            snapshot = GateSettings(rules=rules, allowed_domains=self._configured.allowed_domains)
            self._snapshot, self._revision = snapshot, revision
            return snapshot

    # --- reading -------------------------------------------------------------------------------

    def in_force(self) -> list[RuleInForce]:
        """Every rule the gate applies, with its source, sorted by host then path."""
        return self._merge(self._repository.list())

    def _merge(self, stored: list[StoredRule]) -> list[RuleInForce]:
        merged = {rule_key(rule): RuleInForce(rule, "config") for rule in self._configured.rules}
        for item in stored:
            key = rule_key(item.rule)
            merged[key] = RuleInForce(
                item.rule, "database", item.id, item.updated_at, item.updated_by, key in merged
            )
        return [merged[key] for key in sorted(merged)]

    def get(self, rule_id: int) -> RuleInForce:
        if not 0 < rule_id <= MAX_RULE_ID:
            raise NotFoundError(f"no gate rule {rule_id}")
        item = self._repository.get(rule_id)
        replaces = any(rule_key(rule) == rule_key(item.rule) for rule in self._configured.rules)
        return RuleInForce(
            item.rule, "database", item.id, item.updated_at, item.updated_by, replaces
        )

    def configured(self) -> tuple[GateRule, ...]:
        return self._configured.rules

    # --- changing (each audited, then in force on this node at once) ---------------------------

    def add(self, entry: Mapping[str, object], *, actor: str, origin: Origin) -> RuleInForce:
        rule = checked(entry)
        rule_id = self._repository.add(rule, now=self._clock.now(), actor=actor)
        self._record("gate_rule.added", actor, origin, rule)
        self._load()
        return self.get(rule_id)

    def update(
        self, rule_id: int, entry: Mapping[str, object], *, actor: str, origin: Origin
    ) -> RuleInForce:
        self.get(rule_id)
        rule = checked(entry)
        self._repository.replace(rule_id, rule, now=self._clock.now(), actor=actor)
        self._record("gate_rule.updated", actor, origin, rule)
        self._load()
        return self.get(rule_id)

    def remove(self, rule_id: int, *, actor: str, origin: Origin) -> GateRule:
        rule = self.get(rule_id).rule
        self._repository.remove(rule_id)
        self._record("gate_rule.removed", actor, origin, rule)
        self._load()
        return rule

    def _record(self, action: str, actor: str, origin: Origin, rule: GateRule) -> None:
        self._audit.record(
            AuditEvent(
                action=action,
                outcome=Outcome.SUCCESS,
                at=self._clock.now(),
                actor=actor,
                subject=f"{rule.host}{rule.path_prefix}"[:256],
                source_address=origin.source_address,
                user_agent=origin.user_agent,
                request_id=origin.request_id,
                details=describe(rule),
            )
        )


def checked(entry: Mapping[str, object]) -> GateRule:
    """A rule through the configuration file's own checks; a refusal names the faulty field."""
    try:
        return parse_rule(entry)
    except ConfigError as exc:
        key = str(exc.details.get("key", ""))
        field = key.removeprefix("rule.").split("[")[0] or "rule"
        raise ValidationError(exc.message, field=field) from None


def describe(rule: GateRule) -> dict[str, str]:
    """The rule as audit details (and a one-line summary elsewhere)."""
    details = {
        "roles": " ".join(rule.roles) or "any",
        "min_aal": str(int(rule.min_aal)),
        "networks": " ".join(str(network) for network in rule.networks) or "none",
        "bypass": " ".join(rule.bypass) or "none",
    }
    if rule.networks_min_aal is not None:
        details["networks_min_aal"] = str(int(rule.networks_min_aal))
    if rule.deny_outside_networks:
        details["deny_outside_networks"] = "true"
    return details


def as_entry(rule: GateRule) -> dict[str, object]:
    """The rule as a ``[[gate.rules]]`` table: what ``checked`` reads back (edits start here)."""
    entry: dict[str, object] = {
        "host": rule.host,
        "path_prefix": rule.path_prefix,
        "roles": list(rule.roles),
        "min_aal": int(rule.min_aal),
        "networks": [str(network) for network in rule.networks],
        "deny_outside_networks": rule.deny_outside_networks,
        "bypass": list(rule.bypass),
        "allow_emergency": rule.allow_emergency,
    }
    if rule.networks_min_aal is not None:
        entry["networks_min_aal"] = int(rule.networks_min_aal)
    return entry
