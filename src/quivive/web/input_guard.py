"""Refuse a NUL byte anywhere in a request's parameters before any route reads them.

PostgreSQL ``text`` cannot hold U+0000: a NUL in a search box or a JSON field that reaches a query
makes the driver raise, which would be a 500. Forms already refuse it (``forms.field``); this one
dependency covers the query string, the path parameters and JSON bodies of the admin console and
API, so that no route has to remember to.
"""

from __future__ import annotations

from starlette.requests import Request

from quivive.web.forms import BadForm

NUL = "\x00"
REASON = "nul_byte"


async def reject_nul_bytes(request: Request) -> None:
    """A FastAPI dependency: ``BadForm`` (reason ``nul_byte``, a 400) when any input has a NUL."""
    for name, value in request.query_params.multi_items():
        _check(name, "query")
        _check(value, name)
    for name, value in request.path_params.items():
        if isinstance(value, str):
            _check(value, name)
    if _is_json(request) and _has_nul(await _json_body(request)):
        raise BadForm("the JSON body has a NUL character", reason=REASON)


def _check(value: str, where: str) -> None:
    if NUL in value:
        raise BadForm(f"parameter {where[:64]!r} has a NUL character", reason=REASON, field=where)


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return request.method != "GET" and content_type == "application/json"


async def _json_body(request: Request) -> object:
    try:
        return await request.json()  # cached on the request: FastAPI reads the same one
    except (ValueError, UnicodeDecodeError):
        return None  # malformed: FastAPI's own validation answers it


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False
