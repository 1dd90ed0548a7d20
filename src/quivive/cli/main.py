"""The ``quivive`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.table import Table

from quivive import __version__
from quivive.cli import admin, audit, clients, demo, keys, policy, report, rules, throttle, users
from quivive.cli.context import (
    CliState,
    console,
    fit_consoles_to_terminal,
    opened_services,
    reported_errors,
    state_of,
)
from quivive.cli.listeners import bind_listener
from quivive.composition import build_services
from quivive.config import describe_settings
from quivive.logs import configure_logging
from quivive.storage.database import check_reachable, upgrade

app = typer.Typer(
    name="quivive",
    help="Quivive: strong authentication for care establishments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
app.add_typer(users.app, name="user")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(policy.app, name="policy")
app.add_typer(clients.app, name="client")
app.add_typer(keys.app, name="keys")
app.add_typer(rules.app, name="rules")
app.add_typer(audit.app, name="audit")
app.add_typer(throttle.app, name="throttle")
app.add_typer(admin.app, name="admin")
app.command("report")(report.report)
app.command("demo")(demo.demo)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="TOML configuration file (env QUIVIVE_CONFIG).", dir_okay=False
        ),
    ] = None,
) -> None:
    fit_consoles_to_terminal()
    ctx.obj = CliState(config_file=config)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen address (QUIVIVE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (QUIVIVE_PORT).")] = None,
) -> None:
    """Start the server, applying pending database migrations first."""
    settings = state_of(ctx).settings()
    configure_logging(settings.log_format, settings.log_level)
    listen_host, listen_port = host or settings.host, port or settings.port
    listener = bind_listener(listen_host, listen_port)
    with reported_errors():
        services = build_services(settings)
        check_reachable(services.engine)
        upgrade(services.engine)
        link = services.first_admin.issue_link()
    if link:
        console.rule("[bold]First start")
        console.print("No administrator yet. Open this one-time link within 1 hour to create one:")
        console.print(f"  [bold]{link}[/]", soft_wrap=True, highlight=False)
        console.rule()
    console.print(
        f"Quivive listening on http://{listen_host}:{listen_port} ({settings.public_url})"
    )
    from quivive.web.app import create_app  # imported late: the CLI's other commands stay light

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(services),
            proxy_headers=False,  # the trusted-proxy count decides, not uvicorn's defaults
            server_header=False,
            access_log=False,
            log_config=None,
        )
    )
    server.run(sockets=[listener])


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending database migrations."""
    settings = state_of(ctx).settings()
    with reported_errors():
        services = build_services(settings)
        try:
            check_reachable(services.engine)
            upgrade(services.engine)
        finally:
            services.close()
    console.print("database schema is up to date")


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Validate the configuration and print the effective settings (secrets masked)."""
    settings = state_of(ctx).settings()
    table = Table()
    for header in ("setting", "environment variable", "value"):
        # Fold rather than cut with "…": a narrow terminal must still show every value in full.
        table.add_column(header, overflow="fold")
    for key, env_name, value in describe_settings(settings):
        table.add_row(key, env_name, value)
    console.print(table)
    source = settings.source or "none"
    console.print(f"configuration file: {source}", highlight=False)
    rules.print_rules(settings)
    console.print("[green]configuration is valid[/]")


def main() -> None:
    app()


__all__ = ["main", "opened_services"]
