"""Value kinds: each turns a raw value (environment string or TOML value) into a typed one."""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

# --- value kinds: each turns a raw value (env string or TOML value) into a typed one -------------


class Kind(Protocol):
    @property
    def expected(self) -> str:
        """What is accepted, as a noun phrase ("an integer between 1 and 10")."""
        ...

    def parse(self, raw: object) -> Any:
        """The typed value; raises ``ValueError`` with a reason (usually "expected ...")."""
        ...


@dataclass(frozen=True, slots=True)
class Integer:
    low: int
    high: int

    @property
    def expected(self) -> str:
        return f"an integer between {self.low} and {self.high}"

    def parse(self, raw: object) -> int:
        value = to_int(raw)
        if value is None or not self.low <= value <= self.high:
            raise ValueError(f"expected {self.expected}")
        return value


@dataclass(frozen=True, slots=True)
class Duration:
    low: timedelta
    high: timedelta

    @property
    def expected(self) -> str:
        low, high = format_duration(self.low), format_duration(self.high)
        return f"a duration between {low} and {high} (seconds, or a number with unit s, m, h or d)"

    def parse(self, raw: object) -> timedelta:
        try:
            value = parse_duration(raw)
        except ValueError:
            raise ValueError(f"expected {self.expected}") from None
        if not self.low <= value <= self.high:
            raise ValueError(f"expected {self.expected}")
        return value


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


@dataclass(frozen=True, slots=True)
class Boolean:
    @property
    def expected(self) -> str:
        return "true or false (also 1/0, yes/no)"

    def parse(self, raw: object) -> bool:
        if isinstance(raw, bool):
            return raw
        word = raw.strip().lower() if isinstance(raw, str) else None
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError(f"expected {self.expected}")


@dataclass(frozen=True, slots=True)
class Choice:
    options: tuple[str, ...]

    @property
    def expected(self) -> str:
        return "one of " + ", ".join(f'"{option}"' for option in self.options)

    def parse(self, raw: object) -> str:
        word = raw.strip().lower() if isinstance(raw, str) else ""
        if word not in self.options:
            raise ValueError(f"expected {self.expected}")
        return word


@dataclass(frozen=True, slots=True)
class Text:
    min_length: int
    max_length: int

    @property
    def expected(self) -> str:
        return f"text of {self.min_length} to {self.max_length} characters"

    def parse(self, raw: object) -> str:
        text = _to_str(raw, self.expected)
        if not self.min_length <= len(text) <= self.max_length:
            raise ValueError(f"expected {self.expected}")
        # It ends up in page titles, e-mail headers and authenticator apps: no line breaks there.
        if any(_is_control(char) for char in text):
            raise ValueError("must not contain control characters or line breaks")
        return text


@dataclass(frozen=True, slots=True)
class OptionalText:
    max_length: int

    @property
    def expected(self) -> str:
        return f"text of at most {self.max_length} characters, or empty"

    def parse(self, raw: object) -> str | None:
        if raw is None:
            return None
        text = Text(0, self.max_length).parse(raw)
        return text or None


@dataclass(frozen=True, slots=True)
class RoleList:
    """Role names: a TOML array of strings, or a comma-separated environment value."""

    @property
    def expected(self) -> str:
        return "role names (a list, or comma-separated), or empty for none"

    def parse(self, raw: object) -> tuple[str, ...]:
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ValueError(f"expected {self.expected}")
        roles = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
        if any(not re.fullmatch(r"[^\s,]{1,64}", role) for role in roles):
            raise ValueError(f"expected {self.expected}")
        return roles


# FINESS: 9 characters, the first two the département (2A/2B for Corsica), the last a check digit.
_FINESS = re.compile(r"[0-9]{2}[0-9]{7}|2[AB][0-9]{7}")


@dataclass(frozen=True, slots=True)
class Finess:
    @property
    def expected(self) -> str:
        return "a FINESS number (9 characters, e.g. 750712184), or empty"

    def parse(self, raw: object) -> str | None:
        text = OptionalText(9).parse(raw)
        if text is not None and not _FINESS.fullmatch(text.upper()):
            raise ValueError(f"expected {self.expected}")
        return None if text is None else text.upper()


_BIND_HOST = re.compile(r"[A-Za-z0-9.:_-]{1,253}")


@dataclass(frozen=True, slots=True)
class BindHost:
    @property
    def expected(self) -> str:
        return "an IP address or host name to listen on"

    def parse(self, raw: object) -> str:
        text = _to_str(raw, self.expected)
        if not _BIND_HOST.fullmatch(text):
            raise ValueError(f"expected {self.expected}")
        return text


@dataclass(frozen=True, slots=True)
class DirPath:
    @property
    def expected(self) -> str:
        return "a directory path, absolute or relative to the working directory"

    def parse(self, raw: object) -> Path:
        text = _to_str(raw, self.expected)
        if not text or "\0" in text:
            raise ValueError(f"expected {self.expected}")
        if text.startswith("~"):
            raise ValueError('"~" is not expanded here: give the full path')
        # abspath, not resolve(): no file-system access; the directory may not exist yet.
        return Path(os.path.abspath(text))


@dataclass(frozen=True, slots=True)
class FilePath:
    @property
    def expected(self) -> str:
        return "a file path, absolute or relative to the working directory"

    def parse(self, raw: object) -> Path:
        try:
            return DirPath().parse(raw)
        except ValueError as exc:
            message = str(exc).replace(DirPath().expected, self.expected)
            raise ValueError(message) from None


# Accepted prefixes and what they become: SQLAlchemy needs the driver named for psycopg 3.
_DATABASE_PREFIXES = {
    "sqlite://": "sqlite://",
    "postgresql+psycopg://": "postgresql+psycopg://",
    "postgresql://": "postgresql+psycopg://",
    "postgres://": "postgresql+psycopg://",
}


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    @property
    def expected(self) -> str:
        forms = ", ".join(_DATABASE_PREFIXES)
        return f"a database URL starting with one of {forms}"

    def parse(self, raw: object) -> str:
        text = _to_str(raw, self.expected)
        for prefix, replacement in _DATABASE_PREFIXES.items():
            if text.startswith(prefix):
                return replacement + text.removeprefix(prefix)
        raise ValueError(f"expected {self.expected}")


_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True, slots=True)
class RedisUrl:
    @property
    def expected(self) -> str:
        return "a URL starting with " + ", ".join(_REDIS_SCHEMES) + ", or empty for none"

    def parse(self, raw: object) -> str | None:
        if raw is None:
            return None
        text = _to_str(raw, self.expected)
        if not text:
            return None
        try:
            urlsplit(text).port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ValueError(f"expected {self.expected}") from None
        if not text.lower().startswith(_REDIS_SCHEMES) or any(ch.isspace() for ch in text):
            raise ValueError(f"expected {self.expected}")
        return text


@dataclass(frozen=True, slots=True)
class PublicUrl:
    @property
    def expected(self) -> str:
        return "an absolute http(s) URL without query or fragment"

    def parse(self, raw: object) -> str:
        text = _to_str(raw, self.expected)
        # urlsplit silently drops tabs and newlines, so refuse them before it sees them.
        if any(char.isspace() or _is_control(char) for char in text):
            raise ValueError("must not contain spaces or control characters")
        if "?" in text or "#" in text:
            raise ValueError("must not contain a query (?) or fragment (#)")
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ValueError(f"expected {self.expected}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected {self.expected}")
        if "@" in parts.netloc:
            raise ValueError("must not contain a user name or password")
        return f"{scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


@dataclass(frozen=True, slots=True)
class WebhookUrl:
    @property
    def expected(self) -> str:
        return "an absolute http(s) URL, or empty for none"

    def parse(self, raw: object) -> str | None:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        text = _to_str(raw, self.expected)
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ValueError(f"expected {self.expected}") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected {self.expected}")
        if any(char.isspace() or _is_control(char) for char in text):
            raise ValueError("must not contain spaces or control characters")
        return text


_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,253}")


@dataclass(frozen=True, slots=True)
class EmailAddress:
    @property
    def expected(self) -> str:
        return "an e-mail address, or empty for none"

    def parse(self, raw: object) -> str | None:
        text = OptionalText(320).parse(raw)
        if text is not None and not _EMAIL.fullmatch(text):
            raise ValueError(f"expected {self.expected}")
        return text


_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


@dataclass(frozen=True, slots=True)
class CookieDomain:
    @property
    def expected(self) -> str:
        return "a domain name, or empty for a host-only cookie"

    def parse(self, raw: object) -> str | None:
        if raw is None:
            return None
        # RFC 6265 section 5.2.3 ignores a leading dot.
        text = _to_str(raw, self.expected).lower().removeprefix(".")
        if not text:
            return None
        if not _DOMAIN.fullmatch(text):
            raise ValueError(f"expected {self.expected}")
        return text


def _to_str(raw: object, expected: str) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected {expected}")
    return raw.strip()


def to_int(raw: object) -> int | None:
    """``raw`` as an integer (a TOML integer, or up to 18 ASCII digits, signed or not), or None."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    # ASCII digits only: int() would also take "1_000", " ٣ " and other surprises.
    if isinstance(raw, str) and re.fullmatch(r"[+-]?[0-9]{1,18}", raw.strip()):
        return int(raw.strip())
    return None


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


# --- durations -----------------------------------------------------------------------------------

_DURATION = re.compile(r"([0-9]{1,12})([smhd]?)")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(raw: object) -> timedelta:
    """A non-negative whole number of seconds (int or digits), or a string like "90s", "15m", "12h",
    "1d"."""
    if isinstance(raw, timedelta):
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        seconds = raw
    elif isinstance(raw, str) and (match := _DURATION.fullmatch(raw.strip())):
        seconds = int(match[1]) * _UNIT_SECONDS.get(match[2], 1)
    else:
        raise ValueError(f"not a duration: {raw!r}")
    if seconds < 0:
        raise ValueError(f"negative duration: {raw!r}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration too long: {raw!r}") from None


def format_duration(value: timedelta) -> str:
    """The shortest string ``parse_duration`` reads back as ``value`` ("15m", "12h", "90s")."""
    seconds = int(value.total_seconds())
    if seconds < 0 or timedelta(seconds=seconds) != value:
        raise ValueError(f"not a non-negative whole number of seconds: {value}")
    for unit, size in _UNIT_SECONDS.items():
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return "0s"
