"""``quivive client purge`` also records the end of emergency sessions, once."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from quivive.cli.main import app
from quivive.domain.emergency import EmergencyRequest
from quivive.services.accounts import NewAccount
from quivive.services.mfa import Origin
from support.quivive import running_services

WHY = "Téléphone oublié, patient en détresse respiratoire au box 4."


def test_purge_ends_emergency_sessions_past_their_time(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # The services' FrozenClock is in January 2026: for the CLI's clock, long over.
    with running_services(data, settings={"emergency_roles": "infirmier"}) as services:
        account = NewAccount("alice", "correct horse battery staple 42", roles=("infirmier",))
        user = services.accounts.create(account, actor="test")
        services.emergency.grant(user, EmergencyRequest("factor_lost", WHY), Origin())
    env: dict[str, str | None] = {n: None for n in os.environ if n.startswith("QUIVIVE_")}
    env |= {"QUIVIVE_DATA_DIR": str(data), "COLUMNS": "200"}

    first = CliRunner().invoke(app, ["client", "purge"], env=env)
    second = CliRunner().invoke(app, ["client", "purge"], env=env)

    assert first.exit_code == 0, first.stderr
    assert "1 emergency access session(s) ended" in first.stdout
    assert "0 emergency access session(s) ended" in second.stdout
