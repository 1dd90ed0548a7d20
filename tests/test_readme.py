"""The README is the user's manual: its configuration reference must match the settings table."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _update_readme_module() -> ModuleType:
    script = ROOT / "scripts" / "update_readme.py"
    spec = importlib.util.spec_from_file_location("update_readme", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_configuration_reference_is_current() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _update_readme_module().render(text) == text, (
        "README configuration reference is stale: run scripts/update_readme.py"
    )


def test_readme_names_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in text
    assert "make test" in text
