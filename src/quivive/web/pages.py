"""Server-rendered pages: one Jinja environment per language, each with its own gettext."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from quivive.web.i18n import LANGUAGE_NAMES, SUPPORTED_LANGUAGES, Translations, load_translations


class Pages:
    def __init__(self, establishment_name: str) -> None:
        folder = str(resources.files("quivive.web") / "templates")
        self._translations = {lang: load_translations(lang) for lang in SUPPORTED_LANGUAGES}
        self._environments = {
            lang: _environment(folder, self._translations[lang]) for lang in SUPPORTED_LANGUAGES
        }
        self._establishment_name = establishment_name

    def gettext(self, language: str, message: str) -> str:
        return self._translations[language].gettext(message)

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
    ) -> HTMLResponse:
        language: str = request.state.language
        environment = self._environments[language]
        values = {
            "request": request,
            "lang": language,
            "languages": LANGUAGE_NAMES,
            "establishment_name": self._establishment_name,
            "current_path": request.url.path,
            **(context or {}),
        }
        html = environment.get_template(template).render(values)
        return HTMLResponse(html, status_code=status_code)

    def render_document(
        self, language: str, template: str, context: Mapping[str, Any] | None = None
    ) -> str:
        """A whole document outside any request (the CLI's posture report, its PDF)."""
        values = {
            "lang": language,
            "languages": LANGUAGE_NAMES,
            "establishment_name": self._establishment_name,
            **(context or {}),
        }
        return self._environments[language].get_template(template).render(values)


def _environment(folder: str, translations: Translations) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
    )
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        translations.gettext, translations.ngettext, newstyle=True
    )
    return environment
