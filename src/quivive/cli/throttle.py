"""``quivive throttle ...``: see and clear login throttles."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from quivive.cli.context import console, fail, opened_services, print_json, state_of
from quivive.errors import NotFoundError
from quivive.services.throttling import ThrottleEntry

app = typer.Typer(help="See and clear login throttles.", no_args_is_help=True)
ACTOR = "cli"


@app.command("list")
def list_throttles(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List failure counters: per account, per address, and per account from an address."""
    with opened_services(state_of(ctx)) as services:
        entries = services.throttle.entries()
    if as_json:
        print_json([_as_dict(entry) for entry in entries])
        return
    if not entries:
        console.print("no throttles")
        return
    table = Table("kind", "key", "failures", "next allowed (UTC)", "password alone insufficient")
    for entry in entries:
        table.add_row(
            entry.key.kind.value,
            escape(entry.key.label),  # names are user input: never markup
            str(entry.failures),
            entry.not_before.isoformat(timespec="seconds") if entry.not_before else "now",
            "yes" if entry.password_alone_insufficient else "no",
        )
    console.print(table)


def _as_dict(entry: ThrottleEntry) -> dict[str, object]:
    return {
        "kind": entry.key.kind.value,
        "account": entry.key.account or None,
        "source": entry.key.source or None,
        "failures": entry.failures,
        "next_allowed": entry.not_before.isoformat() if entry.not_before else None,
        "password_alone_insufficient": entry.password_alone_insufficient,
    }


@app.command("clear")
def clear(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="USERNAME|ADDRESS")],
) -> None:
    """Clear the throttles of an account (all addresses) or of an address (all accounts)."""
    with opened_services(state_of(ctx)) as services:
        try:
            cleared = services.throttle.clear(target, actor=ACTOR)
        except NotFoundError as exc:
            fail(exc.message)
    console.print(f"cleared {cleared} counter(s) for [bold]{escape(target)}[/]", highlight=False)
