"""Gate rule repository: the only code that reads or writes ``gate_rules`` and its revision."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from quivive.domain.gate import GateRule
from quivive.domain.sessions import AssuranceLevel
from quivive.errors import ConflictError, NotFoundError
from quivive.storage.tables import gate_rules, gate_rules_revision
from quivive.storage.unit_of_work import connection, transaction

REVISION_ROW = 1


@dataclass(frozen=True, slots=True)
class StoredRule:
    id: int
    rule: GateRule
    updated_at: datetime
    updated_by: str | None


class GateRuleRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> list[StoredRule]:
        query = select(gate_rules).order_by(gate_rules.c.host, gate_rules.c.path_prefix)
        with connection(self._engine) as conn:
            return [_to_stored(row) for row in conn.execute(query).all()]

    def get(self, rule_id: int) -> StoredRule:
        with connection(self._engine) as conn:
            row = conn.execute(select(gate_rules).where(gate_rules.c.id == rule_id)).first()
        if row is None:
            raise NotFoundError(f"no gate rule {rule_id}")
        return _to_stored(row)

    def revision(self) -> int:
        """The change counter: one small read, for every node's poll."""
        query = select(gate_rules_revision.c.revision).where(gate_rules_revision.c.id == 1)
        with connection(self._engine) as conn:
            return int(conn.execute(query).scalar() or 0)

    def add(self, rule: GateRule, *, now: datetime, actor: str) -> int:
        try:
            with transaction(self._engine) as conn:
                values = {**_to_row(rule), "updated_at": now, "updated_by": actor}
                result = conn.execute(insert(gate_rules).values(**values))
                _bump(conn)
        except IntegrityError as exc:
            raise ConflictError(_taken(rule)) from exc
        key = result.inserted_primary_key
        return int(key[0]) if key else 0

    def replace(self, rule_id: int, rule: GateRule, *, now: datetime, actor: str) -> None:
        values = {**_to_row(rule), "updated_at": now, "updated_by": actor}
        try:
            with transaction(self._engine) as conn:
                query = update(gate_rules).where(gate_rules.c.id == rule_id).values(**values)
                if conn.execute(query).rowcount != 1:
                    raise NotFoundError(f"no gate rule {rule_id}")
                _bump(conn)
        except IntegrityError as exc:
            raise ConflictError(_taken(rule)) from exc

    def remove(self, rule_id: int) -> None:
        with transaction(self._engine) as conn:
            if conn.execute(delete(gate_rules).where(gate_rules.c.id == rule_id)).rowcount != 1:
                raise NotFoundError(f"no gate rule {rule_id}")
            _bump(conn)


def _bump(conn: Connection) -> None:
    """Advance the revision in the change's own transaction (created if a schema lacks it)."""
    column = gate_rules_revision.c.revision
    query = update(gate_rules_revision).where(gate_rules_revision.c.id == REVISION_ROW)
    if conn.execute(query.values(revision=column + 1)).rowcount != 1:
        conn.execute(insert(gate_rules_revision).values(id=REVISION_ROW, revision=1))


def _taken(rule: GateRule) -> str:
    return f"a rule for {rule.host} {rule.path_prefix} already exists"


def _to_row(rule: GateRule) -> dict[str, object]:
    return {
        "host": rule.host,
        "path_prefix": rule.path_prefix,
        "roles": " ".join(rule.roles),
        "min_aal": int(rule.min_aal),
        "networks": " ".join(str(network) for network in rule.networks),
        "networks_min_aal": None if rule.networks_min_aal is None else int(rule.networks_min_aal),
        "deny_outside_networks": rule.deny_outside_networks,
        "bypass": " ".join(rule.bypass),
        "allow_emergency": rule.allow_emergency,
    }


def _to_stored(row: Row[tuple[object, ...]]) -> StoredRule:
    m = row._mapping
    level = m["networks_min_aal"]
    rule = GateRule(
        host=m["host"],
        path_prefix=m["path_prefix"],
        roles=tuple(m["roles"].split()),
        min_aal=AssuranceLevel(m["min_aal"]),
        networks=tuple(ipaddress.ip_network(text) for text in m["networks"].split()),
        networks_min_aal=None if level is None else AssuranceLevel(level),
        deny_outside_networks=bool(m["deny_outside_networks"]),
        bypass=tuple(m["bypass"].split()),
        allow_emergency=bool(m["allow_emergency"]),
    )
    return StoredRule(m["id"], rule, m["updated_at"], m["updated_by"])
