"""``quivive audit ...`` in-process with Typer's CliRunner, on SQLite."""

import os
import re
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner, Result

from quivive.cli.main import app
from quivive.composition import build_services
from quivive.config import load_settings
from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.audit_chain import START, from_json, verify_chain
from quivive.services.audit import public_pem
from quivive.storage.database import upgrade

runner = CliRunner()
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
SYSLOG_LINE = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<host>[!-~]+) "
    r"quivive - (?P<msgid>[!-~]{1,32}) "
    r'\[quivive@32473(?P<params>( [^ =\]"]{1,32}="(\\.|[^"\\\]])*")+)\] '
    r"(?P<msg>.*)$"
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    unset: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("QUIVIVE_")
    }
    return {**unset, "QUIVIVE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


def run(env: Mapping[str, str | None], *args: str) -> Result:
    return runner.invoke(app, ["audit", *args], env=dict(env))


def append(env: Mapping[str, str | None], count: int, **fields: str) -> None:
    settings = load_settings(env={"QUIVIVE_DATA_DIR": str(env["QUIVIVE_DATA_DIR"])})
    services = build_services(settings)
    try:
        upgrade(services.engine)
        start = services.audit_trail.latest(1)
        offset = start[0].sequence if start else 0
        for number in range(count):
            services.audit_trail.append(
                AuditEvent(
                    "login.password",
                    Outcome.FAILURE if number % 2 else Outcome.SUCCESS,
                    T0 + timedelta(minutes=offset + number),
                    actor=fields.get("actor", f"user{number}"),
                    reason="bad_credentials" if number % 2 else None,
                    source_address="192.0.2.1",
                    request_id=f"req-{number}",
                )
            )
    finally:
        services.close()


def database(env: Mapping[str, str | None]) -> sqlite3.Connection:
    return sqlite3.connect(Path(str(env["QUIVIVE_DATA_DIR"])) / "quivive.db")


def test_verify_passes_on_an_intact_chain(env: dict[str, str | None]) -> None:
    append(env, 5)

    result = run(env, "verify")

    assert result.exit_code == 0, result.output
    assert "chain intact: 5 records checked; last checkpoint: record 1 at " in result.stdout


def test_verify_names_the_first_modified_record_in_one_line(env: dict[str, str | None]) -> None:
    append(env, 5)
    with database(env) as conn:
        conn.execute("UPDATE audit_records SET outcome = 'success' WHERE sequence = 4")

    result = run(env, "verify")

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: audit chain broken: record 4: modified: its content no longer matches its hash"
    )


def test_verify_names_a_deleted_record(env: dict[str, str | None]) -> None:
    append(env, 5)
    with database(env) as conn:
        conn.execute("DELETE FROM audit_records WHERE sequence = 2")

    result = run(env, "verify")

    assert result.exit_code == 1
    assert (
        result.stderr.strip() == "error: audit chain broken: record 2: deleted: record 2 is missing"
    )


def test_verify_with_another_public_key_rejects_the_checkpoints(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    append(env, 3)
    ours = tmp_path / "ours.pem"
    ours.write_text(run(env, "public-key").stdout)
    theirs = tmp_path / "theirs.pem"
    theirs.write_text(public_pem(Ed25519PrivateKey.generate().public_key()))

    assert run(env, "verify", "--public-key", str(ours)).exit_code == 0
    rejected = run(env, "verify", "--public-key", str(theirs))
    assert rejected.exit_code == 1
    assert "bad checkpoint" in rejected.stderr


def test_export_jsonl_round_trips_and_verifies_offline(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    append(env, 12)
    output = tmp_path / "audit.jsonl"

    result = run(env, "export", "--format", "jsonl", "--output", str(output))

    assert result.exit_code == 0, result.output
    records = [from_json(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [record.sequence for record in records] == list(range(1, 13))
    assert verify_chain(records, START, []).ok


def test_export_since_keeps_later_records(env: dict[str, str | None]) -> None:
    append(env, 10)

    result = run(env, "export", "--since", (T0 + timedelta(minutes=7)).isoformat())

    assert [from_json(line).sequence for line in result.stdout.splitlines()] == [8, 9, 10]


def test_export_syslog_follows_rfc_5424(env: dict[str, str | None]) -> None:
    append(env, 2, actor='eve "the" \\admin] x')

    result = run(env, "export", "--format", "syslog")

    lines = result.stdout.splitlines()
    assert len(lines) == 2
    first, second = (SYSLOG_LINE.match(line) for line in lines)
    assert first is not None, lines[0]
    assert second is not None, lines[1]
    assert (first["pri"], second["pri"]) == ("85", "84")  # authpriv.notice, authpriv.warning
    assert first["msgid"] == "login.password"
    assert 'actor="eve \\"the\\" \\\\admin\\] x"' in first["params"]
    assert second["msg"] == "login.password failure (bad_credentials)"


def test_tail_shows_the_latest_records(env: dict[str, str | None]) -> None:
    append(env, 30)

    result = run(env, "tail", "-n", "3")

    assert result.exit_code == 0, result.output
    assert [n for n in ("27", "28", "29", "30") if f"│ {n} " in result.stdout] == ["28", "29", "30"]


def test_purge_keeps_verify_green(env: dict[str, str | None]) -> None:
    append(env, 10)

    purged = run(env, "purge", "--before", (T0 + timedelta(minutes=4)).isoformat())
    verified = run(env, "verify")

    assert purged.exit_code == 0, purged.output
    assert "4 records deleted; verification now starts after record 4" in purged.stdout
    assert verified.exit_code == 0, verified.output
    assert "chain intact: 6 records checked after purged record 4" in verified.stdout


def test_purge_refuses_a_malformed_date(env: dict[str, str | None]) -> None:
    result = run(env, "purge", "--before", "last tuesday")

    assert result.exit_code == 2
    assert "--before: expected an ISO-8601 date or time" in result.stderr


def test_public_key_is_pem(env: dict[str, str | None]) -> None:
    result = run(env, "public-key")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert result.stdout == run(env, "public-key").stdout
