"""``quivive report`` in-process with Typer's CliRunner, on SQLite."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from quivive.cli.main import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    unset: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("QUIVIVE_")
    }
    return {**unset, "QUIVIVE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


def run(env: Mapping[str, str | None], *args: str) -> Result:
    return runner.invoke(app, ["report", *args], env=dict(env))


def one_line_error(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("language", "title"), [("fr", "Rapport de posture"), ("en", "Authentication posture report")]
)
def test_html_in_either_language(
    env: dict[str, str | None], tmp_path: Path, language: str, title: str
) -> None:
    output = tmp_path / "report.html"

    result = run(env, "--format", "html", "--output", str(output), "--language", language)

    assert result.exit_code == 0, result.output
    assert f"posture report written to {output} (score " in result.stdout
    html = output.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    assert f'<html lang="{language}">' in html
    assert title in html
    assert "<style>" in html  # standalone: opened from a file, no stylesheet to fetch


def test_the_default_language_is_the_configured_one(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    output = tmp_path / "report.json"

    assert run({**env, "QUIVIVE_LANGUAGE": "en"}, "--format", "json", "--output", str(output))
    assert json.loads(output.read_text(encoding="utf-8"))["language"] == "en"


def test_each_run_is_kept_and_the_next_shows_the_trend(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"

    assert run(env, "--format", "json", "--output", str(first)).exit_code == 0
    assert run(env, "--format", "json", "--output", str(second)).exit_code == 0

    before = json.loads(first.read_text(encoding="utf-8"))
    after = json.loads(second.read_text(encoding="utf-8"))
    assert before["trend"]["previous_score"] is None
    assert after["trend"]["previous_score"] == before["score"]
    assert after["trend"]["delta"] == 0
    assert len(after["history"]) == 1


def test_pdf(env: dict[str, str | None], tmp_path: Path) -> None:
    output = tmp_path / "report.pdf"

    result = run(env, "--format", "pdf", "--output", str(output))

    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--format", "xml", "--output", "r.xml"],
            "error: --format: expected one of html, json, pdf, got 'xml'",
        ),
        (
            ["--format", "html", "--output", "r.html", "--language", "de"],
            "error: --language: expected fr or en, got 'de'",
        ),
        (["--format", "html"], "error: --output: a file to write is required"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(
    env: dict[str, str | None], args: list[str], message: str
) -> None:
    result = run(env, *args)

    assert result.exit_code == 2
    assert one_line_error(result) == message


@pytest.mark.parametrize("where", ["missing/report.pdf", "."])
def test_an_unwritable_output_is_one_line_and_exit_1(
    env: dict[str, str | None], tmp_path: Path, where: str
) -> None:
    output = tmp_path / where

    result = run(env, "--format", "pdf", "--output", str(output))

    assert result.exit_code == 1
    assert one_line_error(result).startswith(f"error: cannot write {output}: ")


def test_a_failed_write_is_one_line_and_exit_1(env: dict[str, str | None]) -> None:
    # /dev/full refuses every write, even root's: the late failure path, after the build.
    result = run(env, "--format", "json", "--output", "/dev/full")

    assert result.exit_code == 1
    assert one_line_error(result) == "error: cannot write /dev/full: No space left on device"
