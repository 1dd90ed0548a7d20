"""``quivive rules test`` and the rules in ``quivive config check``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from quivive.cli.main import app

PASSWORD = "un été au bord du Lot 1987"
CONFIG = """
public_url = "https://auth.hopital.example"
[session]
cookie_domain = "hopital.example"

[[gate.rules]]
host = "dpi.hopital.example"
min_aal = 2
networks = ["10.0.0.0/8"]
networks_min_aal = 1
bypass = ["/health"]

[[gate.rules]]
host = "dpi.hopital.example"
path_prefix = "/admin"
roles = ["admin"]
min_aal = 2
"""
runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    config = tmp_path / "quivive.toml"
    config.write_text(CONFIG)
    unset: dict[str, str | None] = {n: None for n in os.environ if n.startswith("QUIVIVE_")}
    return {
        **unset,
        "QUIVIVE_DATA_DIR": str(tmp_path / "data"),
        "QUIVIVE_CONFIG": str(config),
        "COLUMNS": "200",
    }


def run(env: Mapping[str, str | None], *args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), env=dict(env), input=stdin)


def test_config_check_lists_the_rules_and_return_domains(env: dict[str, str | None]) -> None:
    result = run(env, "config", "check")
    assert result.exit_code == 0, result.output
    assert "[[gate.rules]]" in result.stdout
    assert "AAL2 (AAL1 inside networks)" in result.stdout
    assert "/health" in result.stdout
    assert "auth.hopital.example, hopital.example, dpi.hopital.example" in result.stdout


def test_rules_test_names_the_rule_and_the_decision(env: dict[str, str | None]) -> None:
    added = run(env, "user", "add", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    denied = run(env, "rules", "test", "https://dpi.hopital.example/admin/x", "--user", "bob")
    assert denied.exit_code == 0, denied.output
    assert "rule: gate.rules[2]" in denied.stdout
    assert "decision for bob at AAL1: deny" in denied.stdout
    assert "reason: missing_role" in denied.stdout
    step_up = run(env, "rules", "test", "https://dpi.hopital.example/x", "--user", "bob")
    assert "rule: gate.rules[1]" in step_up.stdout
    assert "step up" in step_up.stdout
    assert "level required: AAL2" in step_up.stdout
    inside = run(
        env, "rules", "test", "https://dpi.hopital.example/x", "--user", "bob", "--from", "10.1.2.3"
    )
    assert "decision for bob at AAL1: allow" in inside.stdout


def test_rules_test_signed_out_public_and_unknown_hosts(env: dict[str, str | None]) -> None:
    public = run(env, "rules", "test", "https://dpi.hopital.example/health")
    assert "public path" in public.stdout
    unknown = run(env, "rules", "test", "https://evil.example/")
    assert "rule: none matches (default deny)" in unknown.stdout
    assert "reason: unknown_host" in unknown.stdout


def test_rules_test_refuses_bad_urls_and_unknown_users(env: dict[str, str | None]) -> None:
    bad = run(env, "rules", "test", "not a url")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: URL:")
    unknown = run(env, "rules", "test", "https://dpi.hopital.example/", "--user", "nobody")
    assert unknown.exit_code == 1
    assert "no user 'nobody'" in unknown.stderr


def test_a_bad_rule_fails_config_check_naming_the_key(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    (tmp_path / "quivive.toml").write_text('[[gate.rules]]\nhost = "x.example"\nmin_aal = 5\n')
    result = run(env, "config", "check")
    assert result.exit_code == 2
    assert "gate.rules[1].min_aal: expected 1, 2 or 3" in result.stderr


def test_rules_set_in_the_console_are_listed_and_tested(
    env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    from quivive.cli.context import CliState, opened_services
    from quivive.services.mfa import Origin

    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with opened_services(CliState()) as services:  # as the console would, on the same database
        services.gate_rules.add(
            {"host": "dpi.hopital.example", "path_prefix": "/admin", "roles": ["dsi"]},
            actor="root",
            origin=Origin(),
        )
        services.gate_rules.add({"host": "lab.hopital.example"}, actor="root", origin=Origin())

    listed = run(env, "rules", "list")
    tested = run(env, "rules", "test", "https://lab.hopital.example/x")
    replaced = run(env, "rules", "test", "https://dpi.hopital.example/admin")

    assert listed.exit_code == 0, listed.output
    lines = [line for line in listed.stdout.splitlines() if "hopital.example" in line]
    assert [("file" in line, "console" in line) for line in lines] == [
        (True, False),  # dpi /
        (False, True),  # dpi /admin, replacing the file's rule
        (False, True),  # lab
    ]
    assert "rule: set in the admin console" in tested.stdout
    assert "dsi" in replaced.stdout


def test_rules_test_shows_how_a_rule_treats_an_emergency_session(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    care = '\n[[gate.rules]]\nhost = "dpi.hopital.example"\npath_prefix = "/urgences"\n'
    (tmp_path / "quivive.toml").write_text(CONFIG + care + "allow_emergency = true\n")
    added = run(env, "user", "add", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output

    refused = run(
        env, "rules", "test", "https://dpi.hopital.example/x", "--user", "bob", "--emergency"
    )
    allowed = run(
        env,
        "rules",
        "test",
        "https://dpi.hopital.example/urgences/lit-4",
        "--user",
        "bob",
        "--emergency",
    )

    assert refused.exit_code == 0, refused.output
    emergency = "bob in an emergency session (AAL1, acr urn:quivive:acr:emergency)"
    assert f"decision for {emergency}: deny" in refused.stdout
    assert "reason: emergency_refused" in refused.stdout
    assert "allow_emergency = true" in refused.stdout
    assert "rule: gate.rules[3]" in allowed.stdout
    assert f"decision for {emergency}: allow" in allowed.stdout
    assert "Remote-Emergency: true" in allowed.stdout
    assert "allowed" in allowed.stdout  # the rule's emergency column
    signed_out = run(env, "rules", "test", "https://dpi.hopital.example/x", "--emergency")
    assert signed_out.exit_code == 2
    stronger = ("--user", "bob", "--emergency", "--aal", "2")
    assert run(env, "rules", "test", "https://dpi.hopital.example/x", *stronger).exit_code == 2
