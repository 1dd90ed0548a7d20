"""``quivive admin ...``: the way back into the console when no passkey is at hand."""

from __future__ import annotations

import typer
from rich.markup import escape

from quivive.cli.context import console, opened_services, reported_errors, state_of

app = typer.Typer(help="Administrators: recovery of console access.", no_args_is_help=True)
ACTOR = "cli"


@app.command("recover")
def recover(ctx: typer.Context, username: str) -> None:
    """Let USERNAME into the console without a passkey for one hour (audited).

    For the first set-up or a lost passkey: the administrator signs in with their password (and
    second factor, if any), then adds a passkey on their account page before the hour is over.
    """
    with opened_services(state_of(ctx)) as services, reported_errors():
        until = services.admin.grant_recovery(username, actor=ACTOR)
    console.print(
        f"[bold]{escape(username)}[/] may use the console without a passkey until "
        f"{until.isoformat(timespec='minutes')}; add a passkey at /account meanwhile",
        highlight=False,
    )
