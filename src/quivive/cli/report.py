"""``quivive report``: the posture report as an HTML, JSON or PDF file, kept in the history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quivive.cli.context import EXIT_USAGE, console, fail, opened_services, state_of
from quivive.config import Settings
from quivive.services.posture_report import PostureReport

KEPT_BY = "cli"
FORMATS = ("html", "json", "pdf")
LANGUAGES = ("fr", "en")


def report(
    ctx: typer.Context,
    format_: Annotated[str, typer.Option("--format", help="html, json or pdf.")] = "html",
    output: Annotated[Path | None, typer.Option(help="The file to write (required).")] = None,
    language: Annotated[
        str | None, typer.Option(help="fr or en (default: the configured language).")
    ] = None,
) -> None:
    """Write the authentication posture report for management and the security officer.

    Every run is kept in the history, so the next report shows the trend.
    """
    # Checked by hand rather than with an enum: a mistake is one line on stderr, not a usage box.
    if format_ not in FORMATS:
        fail(f"--format: expected one of {', '.join(FORMATS)}, got {format_!r}", EXIT_USAGE)
    if language is not None and language not in LANGUAGES:
        fail(f"--language: expected fr or en, got {language!r}", EXIT_USAGE)
    if output is None:
        fail("--output: a file to write is required", EXIT_USAGE)
    _check_writable(output)
    settings = state_of(ctx).settings()
    with opened_services(state_of(ctx)) as services:
        built = services.posture.build()
        content = _render(built, format_, language or settings.language, settings)
        _write(output, content)
        services.posture.keep(built, kept_by=KEPT_BY)
    console.print(f"posture report written to {output} (score {built.score}/100)", highlight=False)


def _render(built: PostureReport, format_: str, language: str, settings: Settings) -> bytes:
    # Imported here: templates and WeasyPrint are for this command only; the others stay light.
    from quivive.web.pages import Pages
    from quivive.web.posture_render import render_html, render_json, render_pdf

    pages = Pages(settings.establishment_name)
    if format_ == "json":
        return render_json(built, language, pages).encode("utf-8")
    html = render_html(built, language, pages)
    return render_pdf(html) if format_ == "pdf" else html.encode("utf-8")


def _check_writable(output: Path) -> None:
    """Refuse before any work (the PDF takes a while) when the file cannot be written."""
    if output.is_dir():
        fail(f"cannot write {output}: it is a directory")
    if not output.parent.is_dir():
        fail(f"cannot write {output}: no directory {output.parent}")


def _write(output: Path, content: bytes) -> None:
    try:
        output.write_bytes(content)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
