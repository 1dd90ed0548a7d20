"""Regenerate the configuration reference in README.md from the settings table (config.specs).

``tests/test_readme.py`` fails when the README and the table disagree, so the manual stays true.
"""

from __future__ import annotations

import re
from pathlib import Path

from quivive.config import reference_markdown

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = re.compile(
    r"(<!-- config-reference:start[^>]*-->\n).*?(<!-- config-reference:end -->)", re.DOTALL
)


def render(text: str) -> str:
    if not SECTION.search(text):
        raise SystemExit("README.md has no config-reference markers")
    return SECTION.sub(
        lambda m: m.group(1) + reference_markdown().rstrip() + "\n" + m.group(2), text
    )


def main() -> None:
    README.write_text(render(README.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
