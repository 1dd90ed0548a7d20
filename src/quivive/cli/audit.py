"""``quivive audit ...``: verify, export, read and purge the hash-chained audit trail."""

from __future__ import annotations

import enum
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.markup import escape
from rich.table import Table

from quivive.cli.context import EXIT_USAGE, console, fail, opened_services, state_of
from quivive.domain.audit_chain import ChainRecord, Checkpoint, to_json
from quivive.protocols.syslog import format_record
from quivive.services.audit import load_public_key

app = typer.Typer(
    help="Verify, export, tail and purge the tamper-evident audit trail.", no_args_is_help=True
)


class ExportFormat(enum.StrEnum):
    JSONL = "jsonl"
    SYSLOG = "syslog"


def _moment(text: str | None, option: str) -> datetime | None:
    """An ISO-8601 date or time; without a zone it is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: expected an ISO-8601 date or time, got {text!r}", EXIT_USAGE)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _describe(point: Checkpoint | None) -> str:
    if point is None:
        return "no signed checkpoint yet"
    return f"last checkpoint: record {point.sequence} at {point.at} ({point.kind.value})"


@app.command("verify")
def verify(
    ctx: typer.Context,
    public_key: Annotated[
        Path | None,
        typer.Option(help="Check signatures with this PEM public key instead of the local key."),
    ] = None,
) -> None:
    """Check every hash, link and signed checkpoint; exit 1 naming the first broken record."""
    key = None
    if public_key is not None:
        try:
            key = load_public_key(public_key.read_bytes())
        except (OSError, ValueError) as exc:
            fail(f"cannot read public key {public_key}: {exc}", EXIT_USAGE)
    with opened_services(state_of(ctx)) as services:
        report = services.audit_trail.verify(key)
    if not report.ok:
        fail(f"audit chain broken: {report.message}")
    start = f" after purged record {report.start.sequence}" if report.start.sequence else ""
    console.print(
        f"[green]{escape(report.message)}[/]{start}; {_describe(report.last_checkpoint)}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("export")
def export(
    ctx: typer.Context,
    format_: Annotated[ExportFormat, typer.Option("--format", help="Output format.")] = (
        ExportFormat.JSONL
    ),
    since: Annotated[str | None, typer.Option(help="Only records at or after this time.")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Export records as JSON Lines or RFC 5424 syslog lines, for a SIEM."""
    start = _moment(since, "--since")
    hostname = socket.gethostname()
    jsonl = format_ is ExportFormat.JSONL
    count = 0
    with (
        opened_services(state_of(ctx)) as services,
        _opened(output) as sink,
        services.audit_trail.export(start) as records,
    ):
        for record in records:
            sink.write(to_json(record) if jsonl else format_record(record, hostname))
            sink.write("\n")
            count += 1
    if output is not None:
        console.print(f"{count} records written to {output}", highlight=False)


@contextmanager
def _opened(output: Path | None) -> Iterator[TextIO]:
    if output is None:
        yield sys.stdout
        return
    try:
        handle = output.open("w", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    with handle:
        yield handle


@app.command("tail")
def tail(
    ctx: typer.Context,
    lines: Annotated[int, typer.Option("-n", "--lines", min=1, max=10_000)] = 20,
) -> None:
    """Show the latest records."""
    with opened_services(state_of(ctx)) as services:
        records = services.audit_trail.latest(lines)
    table = Table()
    for header in ("#", "time (UTC)", "action", "outcome", "actor", "subject", "reason", "source"):
        table.add_column(header, overflow="fold")
    for record in records:
        table.add_row(*(escape(cell) for cell in _cells(record)))
    console.print(table)


def _cells(record: ChainRecord) -> tuple[str, ...]:
    values = (record.actor, record.subject, record.reason, record.source_address)
    return (
        str(record.sequence),
        record.at,
        record.action,
        record.outcome,
        *(value or "" for value in values),
    )


@app.command("purge")
def purge(
    ctx: typer.Context,
    before: Annotated[
        str | None,
        typer.Option(help="Delete records older than this date (default: now minus retention)."),
    ] = None,
) -> None:
    """Delete old records; a signed checkpoint first keeps the rest verifiable."""
    state = state_of(ctx)
    cutoff = _moment(before, "--before")
    with opened_services(state) as services:
        if cutoff is None:
            cutoff = services.clock.now() - services.settings.audit_retention
        result = services.audit_trail.purge(cutoff)
    if result.checkpoint is None:
        console.print(f"nothing to purge before {cutoff.isoformat()}", highlight=False)
        return
    console.print(
        f"{result.deleted} records deleted; verification now starts after record "
        f"{result.checkpoint.sequence} (signed checkpoint)",
        highlight=False,
    )


@app.command("checkpoint")
def checkpoint(ctx: typer.Context) -> None:
    """Sign the current head now (run it from a timer to bound undetectable tail truncation)."""
    with opened_services(state_of(ctx)) as services:
        point = services.audit_trail.checkpoint()
    console.print(_describe(point), highlight=False)


@app.command("public-key")
def public_key(ctx: typer.Context) -> None:
    """Print the checkpoint-signing public key (PEM), for offline verification."""
    with opened_services(state_of(ctx), migrate=False) as services:
        pem = services.audit_trail.public_pem()
    sys.stdout.write(pem)
