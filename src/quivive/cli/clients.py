"""``quivive client ...``: register the applications that sign users in through Quivive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from quivive.cli.context import EXIT_USAGE, console, fail, opened_services, print_json, state_of
from quivive.domain.clients import Client
from quivive.errors import ValidationError
from quivive.services.oidc_clients import NewClient

app = typer.Typer(help="Register, list and remove OpenID Connect clients.", no_args_is_help=True)
ACTOR = "cli"


@app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="Repeat for several.")
    ] = None,
    public: Annotated[
        bool, typer.Option("--public", help="No secret (browser or mobile app); PKCE only.")
    ] = False,
    post_logout_redirect_uri: Annotated[
        list[str] | None, typer.Option("--post-logout-redirect-uri", help="Repeat for several.")
    ] = None,
    backchannel_logout_uri: Annotated[
        str | None, typer.Option("--backchannel-logout-uri", help="Receives logout tokens.")
    ] = None,
    grant: Annotated[
        list[str] | None,
        typer.Option(
            "--grant",
            help="authorization_code, refresh_token, client_credentials (default: the first two).",
        ),
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="openid, profile, email, offline_access, healthcare (default: all but "
            "healthcare); admin, with client_credentials, for the admin API.",
        ),
    ] = None,
    first_party: Annotated[
        bool, typer.Option("--first-party", help="The establishment's own app: no consent page.")
    ] = False,
    auth_method: Annotated[
        str | None,
        typer.Option(
            "--auth-method",
            help="client_secret_basic (default), client_secret_post or private_key_jwt.",
        ),
    ] = None,
    signing_alg: Annotated[
        str, typer.Option("--signing-alg", help="RS256 (default) or ES256.")
    ] = "RS256",
    jwks_file: Annotated[
        Path | None,
        typer.Option("--jwks-file", help="The client's public keys, for private_key_jwt."),
    ] = None,
    refresh_without_offline_access: Annotated[
        bool,
        typer.Option(
            "--refresh-without-offline-access",
            help="Give refresh tokens (ending with the session) without offline_access.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Register a client; its secret is printed once and never again."""
    new = NewClient(
        name=name,
        redirect_uris=redirect_uri or (),
        public=public,
        post_logout_redirect_uris=post_logout_redirect_uri or (),
        backchannel_logout_uri=backchannel_logout_uri,
        grant_types=grant or (),
        scopes=scope or (),
        first_party=first_party,
        auth_method=auth_method,
        signing_alg=signing_alg,
        refresh_without_offline_access=refresh_without_offline_access,
        jwks=_read(jwks_file) if jwks_file else None,
    )
    with opened_services(state_of(ctx)) as services:
        try:
            client, secret = services.oidc.clients.register(new, actor=ACTOR)
        except ValidationError as exc:
            fail(exc.message, EXIT_USAGE)
    if as_json:
        print_json({"client_id": client.client_id, "client_secret": secret, "name": client.name})
        return
    console.print(f"client [bold]{client.name}[/] added", highlight=False)
    console.print(f"client_id: {client.client_id}", highlight=False)
    if secret:
        console.print(f"client_secret: {secret}", highlight=False, soft_wrap=True)
        console.print("The secret is shown only now: store it in the application.")


@app.command("list")
def list_clients(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List clients (never their secrets)."""
    with opened_services(state_of(ctx)) as services:
        clients = services.oidc.clients.list()
    if as_json:
        print_json([_as_dict(client) for client in clients])
        return
    table = Table("name", "client_id", "type", "grants", "redirect URIs")
    for client in clients:
        kind = "public" if client.is_public else client.auth_method.value
        grants = ", ".join(grant.value for grant in client.grant_types)
        table.add_row(client.name, client.client_id, kind, grants, "\n".join(client.redirect_uris))
    console.print(table)


@app.command("remove")
def remove(ctx: typer.Context, client: str) -> None:
    """Remove a client (by client_id or name); its tokens stop working."""
    with opened_services(state_of(ctx)) as services:
        try:
            removed = services.oidc.clients.remove(client, actor=ACTOR)
        except ValidationError as exc:
            fail(exc.message)
    console.print(f"removed client [bold]{removed.name}[/]", highlight=False)


@app.command("rotate-secret")
def rotate_secret(
    ctx: typer.Context,
    client: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Give a client a new secret (printed once); the old one stops working."""
    with opened_services(state_of(ctx)) as services:
        try:
            found, secret = services.oidc.clients.rotate_secret(client, actor=ACTOR)
        except ValidationError as exc:
            fail(exc.message)
    if as_json:
        print_json({"client_id": found.client_id, "client_secret": secret})
        return
    console.print(f"client_secret: {secret}", highlight=False, soft_wrap=True)


@app.command("purge")
def purge(ctx: typer.Context) -> None:
    """Log timed-out sessions out of their applications, delete expired grants and tokens,
    record the end of emergency sessions, and forget delivery failures older than a week (run it
    every few minutes, e.g. from cron or a timer)."""
    with opened_services(state_of(ctx)) as services:
        swept = services.oidc.logout.sweep_ended_sessions()
        services.outbox.drain(30)  # the logout tokens the sweep queued
        removed = services.oidc.tokens.purge()
        # After the sweep, which told the applications: this records each emergency session's
        # end once in the audit trail (emergency.expired).
        expired = services.emergency.close_expired()
        forgotten = services.outbox.purge_failed()
    console.print(
        f"{swept} timed-out session(s) logged out of their applications; "
        f"{removed} expired grant(s) and token(s) deleted; "
        f"{expired} emergency access session(s) ended; "
        f"{forgotten} delivery failure(s) older than a week forgotten",
        highlight=False,
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", EXIT_USAGE)


def _as_dict(client: Client) -> dict[str, object]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "auth_method": client.auth_method.value,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "grant_types": [grant.value for grant in client.grant_types],
        "scopes": list(client.scopes),
        "first_party": client.first_party,
        "signing_alg": client.signing_alg,
        "created_at": client.created_at.isoformat(),
    }
