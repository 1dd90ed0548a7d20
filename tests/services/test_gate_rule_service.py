"""Gate rules in force: the file's defaults, the console's rows, the snapshot the gate reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from quivive.clock import FrozenClock
from quivive.domain.gate import parse_original
from quivive.domain.sessions import AssuranceLevel
from quivive.errors import ConflictError, NotFoundError, ValidationError
from quivive.services.gate_rules import GateRuleService
from quivive.services.mfa import Origin
from quivive.storage.gate_rules import GateRuleRepository
from support.quivive import RecordingAudit, running_services

FILE_RULES = """
[[gate.rules]]
host = "dpi.hopital.example"
min_aal = 2
"""
ORIGIN = Origin("10.0.0.9", "test", "req-1")


@pytest.fixture
def rules(tmp_path: Path, backend: str, audit: RecordingAudit) -> Iterator[GateRuleService]:
    config = tmp_path / "quivive.toml"
    config.write_text(FILE_RULES)
    with running_services(
        tmp_path / "d", backend, audit=audit, settings={"config": str(config)}
    ) as s:
        yield s.gate_rules


def _hosts(service: GateRuleService) -> list[tuple[str, str, str]]:
    return [(i.rule.host, i.rule.path_prefix, i.source) for i in service.in_force()]


def test_file_rules_are_defaults_and_a_database_rule_replaces_one(
    rules: GateRuleService, audit: RecordingAudit
) -> None:
    assert _hosts(rules) == [("dpi.hopital.example", "/", "config")]

    added = rules.add(
        {"host": "DPI.hopital.example", "min_aal": 1, "roles": ["Medecin"]},
        actor="root",
        origin=ORIGIN,
    )

    assert added.replaces_file_rule
    assert added.source == "database"
    assert added.rule.roles == ("medecin",)  # the file's own cleaning
    assert _hosts(rules) == [("dpi.hopital.example", "/", "database")]
    assert rules.current().rules[0].min_aal is AssuranceLevel.AAL1  # in force at once
    event = audit.events[-1]
    assert (event.action, event.actor, event.subject) == (
        "gate_rule.added",
        "root",
        "dpi.hopital.example/",
    )
    assert event.source_address == "10.0.0.9"

    rules.remove(added.id or 0, actor="root", origin=ORIGIN)

    assert _hosts(rules) == [("dpi.hopital.example", "/", "config")]
    assert rules.current().rules[0].min_aal is AssuranceLevel.AAL2
    assert audit.events[-1].action == "gate_rule.removed"


def test_update_and_duplicates(rules: GateRuleService) -> None:
    first = rules.add({"host": "lab.hopital.example"}, actor="root", origin=ORIGIN)
    rules.add({"host": "lab.hopital.example", "path_prefix": "/admin/"}, actor="r", origin=ORIGIN)

    with pytest.raises(ConflictError):
        rules.add(
            {"host": "lab.hopital.example", "path_prefix": "/admin"}, actor="r", origin=ORIGIN
        )
    with pytest.raises(ConflictError):
        rules.update(
            first.id or 0,
            {"host": "lab.hopital.example", "path_prefix": "/admin"},
            actor="r",
            origin=ORIGIN,
        )
    changed = rules.update(
        first.id or 0,
        {"host": "lab.hopital.example", "networks": ["10.0.0.0/8"], "deny_outside_networks": True},
        actor="r",
        origin=ORIGIN,
    )
    assert changed.rule.deny_outside_networks
    assert str(changed.rule.networks[0]) == "10.0.0.0/8"
    with pytest.raises(NotFoundError):
        rules.update(999, {"host": "x.example"}, actor="r", origin=ORIGIN)
    with pytest.raises(NotFoundError):
        rules.remove(2**40, actor="r", origin=ORIGIN)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"host": "not a host"}, "host"),
        ({}, "host"),
        ({"host": "a.example", "path_prefix": "admin"}, "path_prefix"),
        ({"host": "a.example", "min_aal": 4}, "min_aal"),
        ({"host": "a.example", "networks": ["10.0.0.300/8"]}, "networks"),
        ({"host": "a.example", "networks_min_aal": 1}, "networks_min_aal"),
        ({"host": "a.example", "deny_outside_networks": True}, "deny_outside_networks"),
        ({"host": "a.example", "bypass": ["health"]}, "bypass"),
        ({"host": "a.example", "roles": ["two words"]}, "roles"),
    ],
)
def test_the_file_checks_refuse_bad_rules_naming_the_field(
    rules: GateRuleService, entry: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        rules.add(entry, actor="root", origin=ORIGIN)

    assert refused.value.details["field"] == field
    assert rules.current().rules[0].host == "dpi.hopital.example"


def test_another_node_sees_a_change_on_its_next_poll(
    tmp_path: Path, backend: str, audit: RecordingAudit
) -> None:
    with running_services(tmp_path, backend, audit=audit) as services:
        here = services.gate_rules
        there = GateRuleService(
            services.settings.gate, GateRuleRepository(services.engine), audit, FrozenClock()
        )
        url = parse_original("GET", "https://wiki.hopital.example/page")
        assert there.current().rules == ()

        here.add({"host": "wiki.hopital.example"}, actor="root", origin=ORIGIN)
        assert there.current().rules == ()  # not polled yet: the old snapshot
        there.refresh()

        assert [rule.host for rule in there.current().rules] == [url.host]
        snapshot = there.current()
        there.refresh()  # nothing changed: the same snapshot, no reload
        assert there.current() is snapshot
