"""``quivive user ...``: manage accounts from the command line."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from quivive.cli.context import (
    EXIT_USAGE,
    console,
    fail,
    opened_services,
    print_json,
    read_secret_from_stdin,
    reported_errors,
    state_of,
)
from quivive.domain.users import User
from quivive.errors import PasswordRejected, QuiviveError
from quivive.services.accounts import NewAccount

app = typer.Typer(
    help="Create, list, disable and enable users; set passwords.", no_args_is_help=True
)
ACTOR = "cli"


def _password(from_stdin: bool, *, required: bool) -> str | None:
    if from_stdin:
        return read_secret_from_stdin()
    if not required:
        return None
    if not sys.stdin.isatty():
        fail("no terminal to ask for the password: use --password-stdin", EXIT_USAGE)
    first = typer.prompt("New password", hide_input=True)
    if first != typer.prompt("Repeat the password", hide_input=True):
        fail("the two passwords differ", EXIT_USAGE)
    return str(first)


def _password_error(exc: PasswordRejected) -> str:
    labels = {
        "invalid_characters": "contains characters that cannot be used",
        "too_short": "too short",
        "too_long": "too long (at most 256 characters)",
        "blocklisted": "among the most common or leaked passwords",
        "contains_context": "contains the username, name, e-mail or establishment name",
    }
    return "password rejected: " + "; ".join(labels.get(code, code) for code in exc.reasons)


@app.command("add")
def add(
    ctx: typer.Context,
    username: str,
    email: Annotated[str | None, typer.Option(help="For security notifications.")] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    role: Annotated[list[str] | None, typer.Option(help="A role; repeat for several.")] = None,
    rpps: Annotated[str | None, typer.Option(help="Professional identifier (RPPS).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user (without --password-stdin the account has no password yet)."""
    account = NewAccount(
        username=username,
        password=_password(password_stdin, required=False),
        display_name=name,
        email=email,
        roles=role or (),
        professional_id=rpps,
    )
    with opened_services(state_of(ctx)) as services:
        try:
            user = services.accounts.create(account, actor=ACTOR)
        except PasswordRejected as exc:
            fail(_password_error(exc))
    console.print(f"created user [bold]{user.username}[/]", highlight=False)


@app.command("list")
def list_users(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List users."""
    with opened_services(state_of(ctx)) as services:
        users = services.accounts.list()
    if as_json:
        print_json([_as_dict(user) for user in users])
        return
    table = Table("username", "name", "e-mail", "roles", "status", "last sign-in")
    for user in users:
        table.add_row(
            user.username,
            user.display_name,
            user.email or "",
            ", ".join(user.roles),
            user.status.value,
            user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "never",
        )
    console.print(table)


def _as_dict(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "roles": list(user.roles),
        "professional_id": user.professional_id,
        "status": user.status.value,
        "has_password": user.password_hash is not None,
        "created_at": user.created_at.isoformat(),
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


@app.command("disable")
def disable(ctx: typer.Context, username: str) -> None:
    """Disable a user and end all their sessions."""
    with opened_services(state_of(ctx)) as services:
        ended = services.accounts.disable(username, actor=ACTOR)
    console.print(f"disabled [bold]{username}[/]; {ended} session(s) ended", highlight=False)


@app.command("enable")
def enable(ctx: typer.Context, username: str) -> None:
    """Enable a disabled user."""
    with opened_services(state_of(ctx)) as services:
        services.accounts.enable(username, actor=ACTOR)
    console.print(f"enabled [bold]{username}[/]", highlight=False)


@app.command("set-password")
def set_password(
    ctx: typer.Context,
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a user's password; their sessions end."""
    with reported_errors():
        password = _password(password_stdin, required=True)
    if password is None:
        raise QuiviveError("no password given")
    with opened_services(state_of(ctx)) as services:
        try:
            ended = services.accounts.set_password(username, password, actor=ACTOR)
        except PasswordRejected as exc:
            fail(_password_error(exc))
    console.print(
        f"password set for [bold]{username}[/]; {ended} session(s) ended", highlight=False
    )
