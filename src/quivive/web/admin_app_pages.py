"""What the console's applications and gate rules pages share: context, refusals, form lists."""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.requests import Request

from quivive.domain.gate_snippets import ProxySetup
from quivive.errors import ConflictError, ValidationError
from quivive.services.admin import AdminActor
from quivive.web import admin_apps_messages as texts
from quivive.web.routes.admin_console import _context
from quivive.web.state import WebState, web_state

# A form's list fields (redirect URIs, roles, networks, paths): one item per line, or separated
# by spaces or commas; none of these values may contain any of them.
_SEPARATORS = re.compile(r"[\s,]+")
# Quivive listening on every address is reached by a proxy on the same machine at loopback.
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - compared, not bound


def page_context(request: Request, actor: AdminActor, **values: object) -> dict[str, object]:
    """The console's usual context, with this section's notice (``?notice=``)."""
    web = web_state(request)
    notice = texts.NOTICES.get(request.query_params.get("notice", ""))
    translated = web.translate(request, notice) if notice else None
    return {**_context(request, actor, **values), "notice": translated}


def items(text: str) -> list[str]:
    return [item for item in _SEPARATORS.split(text) if item]


def checked(form: Mapping[str, str], name: str) -> bool:
    return form.get(name) == "yes"


def refusal(
    web: WebState,
    request: Request,
    exc: ValidationError | ConflictError,
    fields: Mapping[str, str],
    taken: str,
) -> str:
    """The reason in plain words for the field concerned, then the technical detail."""
    if isinstance(exc, ConflictError):
        return web.translate(request, taken)
    explanation = fields.get(str(exc.details.get("field", "")), texts.INVALID)
    return f"{web.translate(request, explanation)} ({exc.message})"


def proxy_setup(web: WebState) -> ProxySetup:
    """Where a proxy on Quivive's machine reaches it; the application's address stays an example."""
    settings = web.services.settings
    host = "127.0.0.1" if settings.host in _ANY_ADDRESS else settings.host
    host = f"[{host}]" if ":" in host else host
    return ProxySetup(quivive=f"{host}:{settings.port}")
