"""``quivive demo``: a fictional hospital, seeded, served with the sample "dossier patient" app.

The sample app's code lives in the repository's ``examples/dossier_patient`` (it is what an
application developer would write, not part of Quivive), so it is found from a source checkout:
next to this package's ``src/`` folder, else in the current directory's ``examples/``. An
installed wheel does not ship it: the demo then serves Quivive alone and says so.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
import uvicorn
from rich.markup import escape
from rich.table import Table

from quivive.cli.context import EXIT_USAGE, console, fail, reported_errors
from quivive.cli.listeners import bind_listener
from quivive.clock import FrozenClock, SystemClock
from quivive.composition import build_services
from quivive.config import Settings, load_settings
from quivive.domain.alerts import Alert
from quivive.domain.demo_establishment import ESTABLISHMENT_NAME, FINESS
from quivive.logs import configure_logging
from quivive.services.demo_seed import DemoSeed, seed_demo
from quivive.storage.database import upgrade

HOST = "127.0.0.1"
MARKER = ".quivive-demo"  # only a folder holding it may be wiped by --reset
CONFIG_NAME = "quivive.toml"
SAMPLE_PACKAGE = "dossier_patient"
EMERGENCY_ROLES = ("medecin", "infirmier", "aide-soignant")  # those at the bedside at night
TOTP_SECRET_WIDTH = 32  # base32 of a 160-bit secret
WIDE_TERMINAL = 120  # columns from which the table also repeats the password on each row
READY_LINE = "Press Ctrl-C to stop."  # printed once both servers accept connections


class _PastAlerts:
    """Alerts raised while the month of history is replayed happened "in the past": kept quiet."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


@dataclass(frozen=True, slots=True)
class DemoUrls:
    quivive: str
    app: str | None


def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Fresh folder for the demo's data.", file_okay=False)
    ] = Path("quivive-demo"),
    port: Annotated[int, typer.Option("--port", help="Quivive's port.", min=1, max=65535)] = 8080,
    app_port: Annotated[
        int, typer.Option("--app-port", help="The sample app's port.", min=1, max=65535)
    ] = 8081,
    reset: Annotated[
        bool, typer.Option("--reset", help="Wipe a previous demo's data folder first.")
    ] = False,
) -> None:
    """Start a demo establishment (fictional hospital) with the sample "dossier patient" app."""
    if port == app_port:
        fail("--port and --app-port must differ", EXIT_USAGE)
    data_dir = data_dir.absolute()
    _prepare(data_dir, reset=reset)
    sample = _sample_app_factory()
    sockets = _listen(port, app_port if sample else None)
    _mark(data_dir)
    urls = DemoUrls(f"http://localhost:{port}", f"http://localhost:{app_port}" if sample else None)
    settings = _settings(data_dir, port)
    where = escape(str(data_dir))  # a folder name is not Rich markup
    console.print(f"Seeding [bold]{ESTABLISHMENT_NAME}[/] in {where} …", highlight=False)
    with reported_errors():
        seeded = _seed(settings, urls.app)
    _write_config(data_dir, port)
    _print_welcome(seeded, urls, data_dir)
    configure_logging(settings.log_format, "warning")
    _serve(settings, seeded, urls, sample, sockets)


# --- the data folder ------------------------------------------------------------------------------


def _prepare(data_dir: Path, *, reset: bool) -> None:
    if data_dir.exists() and not data_dir.is_dir():
        fail(f"{data_dir} is not a folder", EXIT_USAGE)
    if not data_dir.exists() or not any(data_dir.iterdir()):
        return
    if not reset:
        fail(
            f"{data_dir} is not empty: the demo starts from a fresh folder "
            "(use --reset to wipe a previous demo, or --data-dir for another folder)",
            EXIT_USAGE,
        )
    if not (data_dir / MARKER).is_file():
        fail(f"{data_dir} was not made by quivive demo: refusing to wipe it", EXIT_USAGE)
    shutil.rmtree(data_dir)


def _mark(data_dir: Path) -> None:
    """Before seeding: a seeding cut short leaves a folder that --reset may still wipe."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (data_dir / MARKER).write_text("made by quivive demo\n", encoding="utf-8")


def _listen(port: int, app_port: int | None) -> list[socket.socket]:
    """Both ports at once, before the seconds of seeding: a taken port fails straight away."""
    sockets = [bind_listener(HOST, port, hint="choose another with --port")]
    if app_port is not None:
        sockets.append(bind_listener(HOST, app_port, hint="choose another with --app-port"))
    return sockets


def _settings(data_dir: Path, port: int) -> Settings:
    # Built from the demo's values only: QUIVIVE_DATABASE_URL or a configuration file meant for a
    # real installation must never receive fictional staff.
    env = {
        "QUIVIVE_DATA_DIR": str(data_dir),
        "QUIVIVE_PORT": str(port),
        "QUIVIVE_ESTABLISHMENT_NAME": ESTABLISHMENT_NAME,
        "QUIVIVE_OIDC_FINESS": FINESS,
        # So the walk-through can open the console with TOTP; the report still flags it.
        "QUIVIVE_ADMIN_REQUIRE_PHISHING_RESISTANT": "false",
        "QUIVIVE_EMERGENCY_ROLES": ",".join(EMERGENCY_ROLES),
    }
    with reported_errors():
        return load_settings(env=env)


def _write_config(data_dir: Path, port: int) -> None:
    """The same settings as a file: ``quivive --config DIR/quivive.toml report`` works on it."""
    # JSON strings and arrays are valid TOML values (basic strings, arrays).
    lines = [
        f"data_dir = {json.dumps(data_dir.as_posix())}",
        f"port = {port}",
        f"establishment_name = {json.dumps(ESTABLISHMENT_NAME)}",
        "",
        "[oidc]",
        f"finess = {json.dumps(FINESS)}",
        "",
        "[admin]",
        "require_phishing_resistant = false",
        "",
        "[emergency]",
        f"roles = {json.dumps(list(EMERGENCY_ROLES))}",
    ]
    (data_dir / CONFIG_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- seeding ------------------------------------------------------------------------------------


def _seed(settings: Settings, app_url: str | None) -> DemoSeed:
    clock = FrozenClock(SystemClock().now())
    services = build_services(settings, clock=clock, alerts=_PastAlerts())
    try:
        upgrade(services.engine)
        return seed_demo(services, clock, app_url=app_url)
    finally:
        services.close()


def _print_welcome(seeded: DemoSeed, urls: DemoUrls, data_dir: Path) -> None:
    table = Table(title=f"{ESTABLISHMENT_NAME}: demo accounts")
    # Whatever the terminal's width, a username and a TOTP secret stay on one line to be copied;
    # the password, the same for all, gets a column only where there is room for it.
    with_password = console.width >= WIDE_TERMINAL
    table.add_column("username", no_wrap=True)
    table.add_column("role", overflow="fold")
    table.add_column("factors", overflow="fold")
    if with_password:
        table.add_column("password", no_wrap=True)
    table.add_column("TOTP secret", no_wrap=True, min_width=TOTP_SECRET_WIDTH)
    for account in seeded.accounts:
        person = account.person
        factors = ", ".join(sorted(f.value for f in person.factors)) or "password only"
        if person.disabled:
            factors += " (disabled)"
        password = [seeded.password] if with_password else []
        table.add_row(person.username, person.role, factors, *password, account.totp_secret or "")
    console.print(table)
    console.print(f"Every account's password: {seeded.password}", highlight=False)
    console.print(f"Quivive:         {urls.quivive}  (console: {urls.quivive}/admin)")
    if urls.app:
        console.print(f"Dossier patient: {urls.app}")
    else:
        console.print(
            "Sample app not found (it is in the source repository's examples/ folder, not in "
            "the installed package): Quivive runs alone."
        )
    console.print(f"Data: {data_dir}  (config: {data_dir / CONFIG_NAME})")


# --- serving ------------------------------------------------------------------------------------


def _sample_app_factory() -> Any | None:
    """The sample app's ``create_app`` and ``AppConfig``, from a source checkout; None if absent."""
    here = Path(__file__).resolve()
    for root in (here.parents[3] / "examples", Path.cwd() / "examples"):
        if (root / SAMPLE_PACKAGE / "__init__.py").is_file():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return importlib.import_module(SAMPLE_PACKAGE)
    return None


class _Server(uvicorn.Server):
    """Signals are handled once for both servers (uvicorn's own handler would stop only one)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _serve(
    settings: Settings,
    seeded: DemoSeed,
    urls: DemoUrls,
    sample: Any | None,
    sockets: list[socket.socket],
) -> None:
    from quivive.web.app import create_app  # late: the CLI's other commands stay light

    services = build_services(settings)
    servers = [_server(create_app(services))]
    if sample is not None and seeded.client is not None and urls.app is not None:
        config = sample.AppConfig(
            issuer=urls.quivive,
            client_id=seeded.client.client_id,
            client_secret=seeded.client.client_secret,
            app_url=urls.app,
        )
        servers.append(_server(sample.create_app(config)))
    try:
        with _stopped_by_signals(servers):
            asyncio.run(_run(servers, sockets))
    finally:
        services.close()
        for sock in sockets:
            sock.close()
    console.print("demo stopped")


def _server(app: Any) -> _Server:
    config = uvicorn.Config(
        app, proxy_headers=False, server_header=False, access_log=False, log_config=None
    )
    return _Server(config)


async def _run(servers: list[_Server], sockets: list[socket.socket]) -> None:
    serving = [server.serve(sockets=[sock]) for server, sock in zip(servers, sockets, strict=True)]
    await asyncio.gather(*serving, _announce_when_started(servers))


async def _announce_when_started(servers: list[_Server]) -> None:
    while not all(server.started for server in servers):
        if any(server.should_exit for server in servers):
            return
        await asyncio.sleep(0.05)
    console.print(READY_LINE, highlight=False)


@contextmanager
def _stopped_by_signals(servers: list[_Server]) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) stops both servers gracefully; a second Ctrl-C forces it."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        for server in servers:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
