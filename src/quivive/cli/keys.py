"""``quivive keys ...``: the OIDC signing keys, and the key protecting stored TOTP secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from quivive.cli.context import console, opened_services, print_json, state_of

app = typer.Typer(help="Signing keys and the key protecting stored secrets.", no_args_is_help=True)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


@app.command("list")
def list_keys(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The OIDC signing keys in force (retired keys verify until their tokens expire)."""
    with opened_services(state_of(ctx)) as services:
        keys = services.oidc.keys.list()
    if as_json:
        rows = [
            {
                "kid": key.kid,
                "alg": key.alg,
                "created_at": _when(key.created_at) or None,
                "retired_at": _when(key.retired_at) or None,
                "remove_after": _when(key.remove_after) or None,
            }
            for key in keys
        ]
        print_json(rows)
        return
    table = Table("kid", "alg", "created", "retired", "removed after")
    for key in keys:
        table.add_row(
            key.kid,
            key.alg,
            _when(key.created_at),
            _when(key.retired_at),
            _when(key.remove_after),
        )
    console.print(table)


@app.command("rotate")
def rotate(ctx: typer.Context) -> None:
    """New OIDC signing keys sign from now on; the old ones keep verifying until they expire."""
    with opened_services(state_of(ctx)) as services:
        created = services.oidc.keys.rotate()
    for key in created:
        console.print(f"new {key.alg} signing key {key.kid}", highlight=False)


@app.command("rotate-secrets")
def rotate_secrets(ctx: typer.Context) -> None:
    """Re-encrypt every stored TOTP secret under a new key (the secrets_key_file setting).

    The previous key is kept as ``<file>.retired-<id>`` to read older database backups; delete it
    once those are gone. Running servers pick the new key up by themselves.
    """
    with opened_services(state_of(ctx)) as services:
        key_id, count = services.totp.reencrypt_all()
    console.print(f"{count} secret(s) re-encrypted under key {key_id}", highlight=False)
