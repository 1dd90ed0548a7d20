"""What every command shares: the settings, the services, and one way to report errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from quivive.composition import Services, build_services
from quivive.config import Settings, load_settings
from quivive.errors import ConfigError, QuiviveError
from quivive.storage.database import check_reachable, upgrade

# Exit codes: 1 for an operation that failed, 2 for bad configuration or usage (as Click does).
EXIT_FAILURE = 1
EXIT_USAGE = 2

console = Console()
errors = Console(stderr=True)


@dataclass(slots=True)
class CliState:
    config_file: Path | None = None
    _settings: Settings | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            with reported_errors():
                self._settings = load_settings(config_file=self.config_file)
        return self._settings


def fit_consoles_to_terminal() -> None:
    """Honour COLUMNS as it is when a command runs, not when this module was imported.

    Rich reads COLUMNS once, when a console is created; a process that runs several commands
    (the tests, an embedding script) would otherwise keep the first width it saw.
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        console.width = errors.width = int(columns)


def print_json(value: object) -> None:
    """``--json`` output for scripts: plain JSON on stdout, never Rich markup or wrapping."""
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    # Messages quote user input and TOML table names like [session]: never read them as markup.
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn Quivive's errors into one clear line on stderr and a non-zero exit code."""
    try:
        yield
    except ConfigError as exc:
        fail(exc.message, EXIT_USAGE)
    except QuiviveError as exc:
        fail(exc.message)


@contextmanager
def opened_services(state: CliState, *, migrate: bool = True) -> Iterator[Services]:
    settings = state.settings()
    with reported_errors():
        services = build_services(settings)
        try:
            check_reachable(services.engine)
            if migrate:
                upgrade(services.engine)
            yield services
        finally:
            services.close()


def read_secret_from_stdin() -> str:
    """One line from standard input, without its line ending (so scripts can pipe a password)."""
    line = sys.stdin.readline()
    if not line:
        fail("no password on standard input", EXIT_USAGE)
    return line.rstrip("\r\n")


def state_of(ctx: typer.Context) -> CliState:
    state = ctx.find_root().obj
    if not isinstance(state, CliState):
        raise RuntimeError("the CLI root callback did not run")
    return state
