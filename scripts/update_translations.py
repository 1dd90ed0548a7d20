"""Extract messages and merge them into the French catalogue (run by ``make i18n``).

New messages arrive untranslated; ``tests/web/test_i18n.py`` fails until each has its French.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PO_FILE = ROOT / "src/quivive/web/locales/fr/LC_MESSAGES/messages.po"
POT_FILE = ROOT / "build/messages.pot"


def main() -> int:
    POT_FILE.parent.mkdir(exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "--no-location",
            "-o",
            str(POT_FILE),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with POT_FILE.open("rb") as handle:
        template = read_po(handle)
    existing = Catalog(locale="fr")
    if PO_FILE.exists():
        with PO_FILE.open("rb") as handle:
            existing = read_po(handle, locale="fr")
    merged = Catalog(locale="fr", project="Quivive", charset="utf-8")
    for message in template:
        if not message.id:
            continue
        known = existing.get(message.id)
        merged.add(message.id, known.string if known else "", flags=message.flags)
    PO_FILE.parent.mkdir(parents=True, exist_ok=True)
    with PO_FILE.open("wb") as handle:
        write_po(handle, merged, omit_header=False, no_location=True, width=100, sort_output=True)
    missing = [m.id for m in merged if m.id and not m.string]
    print(f"{PO_FILE.relative_to(ROOT)}: {len(merged)} messages, {len(missing)} untranslated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
