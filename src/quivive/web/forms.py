"""Strict parsing of the urlencoded forms Quivive serves.

Starlette's parser replaces undecodable bytes silently; a login form must instead refuse invalid
UTF-8 and oversize bodies with a clear error, before anything reaches the services.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from quivive.errors import ValidationError

# The largest of our forms (set-up: five fields of at most 256 code points, each up to 4 bytes
# and percent-encoded at 3 characters a byte) fits in 16 KiB.
MAX_FORM_BYTES = 16 * 1024
MAX_FIELD_LENGTH = 256  # code points, as for usernames and passwords


class BadForm(ValidationError):
    code = "bad_form"


async def read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadForm("expected an HTML form", reason="content_type")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise BadForm("form too large", reason="too_large")
    try:
        pairs = parse_qsl(
            body.decode("ascii"), keep_blank_values=True, strict_parsing=False, errors="strict"
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadForm("form is not valid UTF-8", reason="encoding") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise BadForm(f"field {name!r} repeated", reason="repeated")
        form[name] = value
    return form


def field(form: dict[str, str], name: str, *, required: bool = True) -> str:
    value = form.get(name, "")
    if required and not value:
        raise BadForm(f"field {name!r} missing", reason="missing", field=name)
    if len(value) > MAX_FIELD_LENGTH:
        raise BadForm(f"field {name!r} too long", reason="too_long", field=name)
    if "\x00" in value:
        raise BadForm(f"field {name!r} has a NUL byte", reason="encoding", field=name)
    return value
