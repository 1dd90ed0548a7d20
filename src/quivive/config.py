"""Typed settings, read once at start-up, validated, then frozen and passed down explicitly.

Sources, in increasing precedence: the defaults below, an optional TOML file (given explicitly or
named by ``QUIVIVE_CONFIG``), then ``QUIVIVE_*`` environment variables. Every TOML key has an
environment twin: ``port`` is ``QUIVIVE_PORT``, ``idle_timeout`` in ``[session]`` is
``QUIVIVE_SESSION_IDLE_TIMEOUT``. ``SETTING_SPECS`` is the one place listing every key; loading,
``describe_settings`` and the README reference (``reference_markdown``) are all driven by it.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from quivive.config_gate import parse_gate
from quivive.domain.gate import GateSettings
from quivive.domain.mfa_policy import MAX_GRACE_DAYS, MfaRule
from quivive.domain.passwords import (
    DEFAULT_MIN_LENGTH,
    MIN_LENGTH_FLOOR,
    MIN_MEMORY_KIB,
    MIN_PARALLELISM,
    MIN_TIME_COST,
)
from quivive.domain.sessions import LEVEL_CAPS, AssuranceLevel
from quivive.errors import ConfigError

ENV_PREFIX = "QUIVIVE_"
CONFIG_FILE_ENV = "QUIVIVE_CONFIG"

# Shared care workstations are often left logged in; REQUIREMENTS (Sessions) sets 15 min.
DEFAULT_IDLE_TIMEOUT = timedelta(minutes=15)
# NIST SP 800-63B-4, AAL2: idle timeout at most 1 h, reauthentication at least every 24 h.
MAX_IDLE_TIMEOUT, MAX_ABSOLUTE_TIMEOUT = LEVEL_CAPS[AssuranceLevel.AAL2]
DEFAULT_ABSOLUTE_TIMEOUT = timedelta(hours=12)  # one care shift
MIN_TIMEOUT = timedelta(minutes=1)  # shorter cannot be used to log in at all
# Audit retention: a year of trail for the yearly review and most incident investigations (CNIL's
# 2021 logging recommendation: 6 months to 1 year), plus a margin so that last year's same month
# is still there. Under 30 days, evidence would go before most intrusions are even noticed.
DEFAULT_AUDIT_RETENTION = timedelta(days=400)
MIN_AUDIT_RETENTION = timedelta(days=30)
MAX_AUDIT_RETENTION = timedelta(days=3650)
MIN_PASSWORD_LENGTH_FLOOR = MIN_LENGTH_FLOOR
DEFAULT_MIN_PASSWORD_LENGTH = DEFAULT_MIN_LENGTH
# NIST: verifiers accept passwords of at least 64 characters, so a longer minimum makes no sense.
MAX_MIN_PASSWORD_LENGTH = 64
ARGON2_MIN_MEMORY_KIB = MIN_MEMORY_KIB
ARGON2_MIN_TIME_COST = MIN_TIME_COST
ARGON2_MIN_PARALLELISM = MIN_PARALLELISM
# Upper bounds catch a typo (an extra zero) before every login takes seconds or the server swaps;
# 4 GiB still admits RFC 9106's first recommended option (2 GiB).
ARGON2_MAX_MEMORY_KIB = 4 * 1024 * 1024
ARGON2_MAX_TIME_COST = 64
ARGON2_MAX_PARALLELISM = 64
MAX_VERIFY_WORKERS = 64
# Plain http is accepted for these hosts: browsers treat them as secure contexts (WebAuthn works).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class SessionSettings:
    idle_timeout: timedelta
    absolute_timeout: timedelta
    cookie_domain: str | None


@dataclass(frozen=True, slots=True)
class PasswordSettings:
    min_length: int
    hash_memory_kib: int
    hash_time_cost: int
    hash_parallelism: int
    verify_workers: int


# Login throttling (REQUIREMENTS, Attack resistance). NIST SP 800-63B-4 caps consecutive failed
# attempts on one account at 100 before something more than the password is required.
MAX_CONSECUTIVE_FAILURES = 100
DEFAULT_FREE_ATTEMPTS = 5  # per (account, address): typos cost nothing
# Per address, any account: several users behind one NAT mistype too, so more are free.
DEFAULT_ADDRESS_FREE_ATTEMPTS = 20
DEFAULT_MAX_DELAY = timedelta(minutes=15)
DEFAULT_FORGET_AFTER = timedelta(hours=1)
DEFAULT_DETECTION_WINDOW = timedelta(minutes=10)
DEFAULT_SPRAYING_ACCOUNTS = 10
DEFAULT_STUFFING_ACCOUNTS = 20


@dataclass(frozen=True, slots=True)
class ThrottleSettings:
    max_failures: int
    free_attempts: int
    address_free_attempts: int
    max_delay: timedelta
    forget_after: timedelta
    detection_window: timedelta
    spraying_accounts: int
    stuffing_accounts: int


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where security notifications (a recovery code was used) are sent from; host None: none."""

    host: str | None
    port: int
    sender: str | None
    username: str | None
    password: str | None = field(repr=False)
    starttls: bool


# OpenID Connect provider. RFC 9068 / OAuth 2.0 Security BCP: short-lived access tokens limit
# what a leaked one is worth; 10 minutes is the default, an hour the most we allow.
DEFAULT_ACCESS_TOKEN_LIFETIME = timedelta(minutes=10)
MAX_ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
# Refresh tokens rotate on every use; this bounds how long an unused one stays valid (one shift).
DEFAULT_REFRESH_TOKEN_LIFETIME = timedelta(hours=12)
MAX_REFRESH_TOKEN_LIFETIME = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class OidcSettings:
    finess: str | None
    access_token_lifetime: timedelta
    id_token_lifetime: timedelta
    refresh_token_lifetime: timedelta


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Where alerts are POSTed as signed JSON; url None: no webhook."""

    url: str | None = None
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class AlertSettings:
    email: str | None = None  # the security officer's address


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    token: str | None = field(default=None, repr=False)
    # Scrapers usually run on the host itself; anything else must come with the token.
    localhost_only: bool = True


@dataclass(frozen=True, slots=True)
class AdminSettings:
    # Console sign-in needs a passkey by default (issue 7): a phished password and TOTP code must
    # not open every account of the establishment. `quivive admin recover` is the way out.
    require_phishing_resistant: bool = True
    # A set-up / re-enrolment link sent from the console: three days covers a weekend.
    enrolment_link_lifetime: timedelta = timedelta(hours=72)


# Emergency access (bris de glace, issue 8). Defaults from domain.emergency; caps keep it short.
MAX_EMERGENCY_DURATION = timedelta(hours=12)  # one shift at most: NIST's AAL3 absolute limit


@dataclass(frozen=True, slots=True)
class EmergencySettings:
    roles: tuple[str, ...] = ()  # empty: emergency access is off
    duration: timedelta = timedelta(hours=2)
    max_uses: int = 3  # per user per 30 days
    min_justification: int = 20
    two_person: bool = False
    review_overdue_days: int = 7
    allow_without_factor: bool = False  # no factor, past the deadline: refused unless true


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str = field(repr=False)  # may hold a password: keep it out of reprs and logs
    public_url: str
    allow_insecure_http: bool
    host: str
    port: int
    language: str
    trusted_proxies: int
    establishment_name: str
    log_format: str
    log_level: str
    audit_retention: timedelta
    session: SessionSettings
    password: PasswordSettings
    throttle: ThrottleSettings
    redis_url: str | None = field(repr=False)  # may hold a password, as database_url
    oidc: OidcSettings
    smtp: SmtpSettings
    secrets_key_file: Path
    source: Path | None  # the TOML file read, if any
    mfa_rules: tuple[MfaRule, ...] = ()  # [[mfa.rules]] in the TOML file (no environment twin)
    # [gate] and [[gate.rules]] (config_gate; no env twin)
    gate: GateSettings = field(default_factory=GateSettings)
    admin: AdminSettings = AdminSettings()
    webhook: WebhookSettings = WebhookSettings()
    alerts: AlertSettings = AlertSettings()
    metrics: MetricsSettings = MetricsSettings()
    emergency: EmergencySettings = EmergencySettings()

    @property
    def https(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def public_host(self) -> str:
        """Host name of ``public_url``, lower-cased: the WebAuthn relying-party ID."""
        return urlsplit(self.public_url).hostname or ""


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
        value = _to_int(raw)
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


def _to_int(raw: object) -> int | None:
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


# --- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One configuration key: everything loading, describing and documenting it needs."""

    key: str  # "port", or "session.idle_timeout" for a key in a [section]
    kind: Kind
    default: object  # a raw value, or a function of the values resolved before it
    meaning: str
    secret: bool = False  # shown as "***" by describe_settings, never echoed in errors
    default_doc: str = ""  # how a computed default is shown in the reference (markdown)

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.key.replace(".", "_").upper()


def _default_database_url(values: Mapping[str, Any]) -> str:
    return f"sqlite:///{values['data_dir']}/quivive.db"


def _default_public_url(values: Mapping[str, Any]) -> str:
    # localhost, not 127.0.0.1: browsers refuse an IP address as a WebAuthn relying-party ID.
    return f"http://localhost:{values['port']}"


def _default_secrets_key_file(values: Mapping[str, Any]) -> str:
    return f"{values['data_dir']}/secrets.key"


def _default_verify_workers(values: Mapping[str, Any]) -> int:
    return min(os.cpu_count() or 2, MAX_VERIFY_WORKERS)


SETTING_SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "data_dir", DirPath(), "./var", "Folder for the SQLite database and generated keys"
    ),
    SettingSpec(
        "database_url",
        DatabaseUrl(),
        _default_database_url,
        "Database (SQLite or PostgreSQL); postgres:// is read as postgresql+psycopg://",
        default_doc="`sqlite:///<data_dir>/quivive.db`",
    ),
    SettingSpec(
        "redis_url",
        RedisUrl(),
        None,
        "Redis shared by several nodes for throttle counters; unset: the database. If Redis is "
        "down, the database takes over",
        secret=True,
    ),
    SettingSpec("host", BindHost(), "127.0.0.1", "Address the HTTP server listens on"),
    SettingSpec("port", Integer(1, 65535), 8080, "Port the HTTP server listens on"),
    SettingSpec(
        "public_url",
        PublicUrl(),
        _default_public_url,
        "Address users open in their browser; https unless localhost",
        default_doc="`http://localhost:<port>`",
    ),
    SettingSpec(
        "allow_insecure_http",
        Boolean(),
        False,
        "Allow a plain-http public_url on a host other than localhost (test installations)",
    ),
    SettingSpec("language", Choice(("fr", "en")), "fr", "Default language of pages and messages"),
    SettingSpec(
        "trusted_proxies",
        Integer(0, 10),
        0,
        "Number of reverse proxies in front of Quivive whose X-Forwarded-For entry is trusted",
    ),
    SettingSpec(
        "establishment_name", Text(1, 200), "Quivive", "Name shown on pages and in TOTP apps"
    ),
    SettingSpec("log_format", Choice(("text", "json")), "text", "Format of log lines"),
    SettingSpec(
        "log_level",
        Choice(("debug", "info", "warning", "error")),
        "info",
        "Least severe level that is logged",
    ),
    SettingSpec(
        "audit_retention",
        Duration(MIN_AUDIT_RETENTION, MAX_AUDIT_RETENTION),
        DEFAULT_AUDIT_RETENTION,
        "`quivive audit purge` without --before deletes audit records older than this",
    ),
    SettingSpec(
        "session.idle_timeout",
        Duration(MIN_TIMEOUT, MAX_IDLE_TIMEOUT),
        DEFAULT_IDLE_TIMEOUT,
        "A session without activity for this long ends",
    ),
    SettingSpec(
        "session.absolute_timeout",
        Duration(MIN_TIMEOUT, MAX_ABSOLUTE_TIMEOUT),
        DEFAULT_ABSOLUTE_TIMEOUT,
        "A session ends this long after login, active or not; at least session.idle_timeout",
    ),
    SettingSpec(
        "session.cookie_domain",
        CookieDomain(),
        None,
        "Domain attribute of the session cookie; setting it gives up the `__Host-` prefix",
    ),
    SettingSpec(
        "password.min_length",
        Integer(MIN_PASSWORD_LENGTH_FLOOR, MAX_MIN_PASSWORD_LENGTH),
        DEFAULT_MIN_PASSWORD_LENGTH,
        "Minimum password length, in characters",
    ),
    SettingSpec(
        "password.hash_memory_kib",
        Integer(ARGON2_MIN_MEMORY_KIB, ARGON2_MAX_MEMORY_KIB),
        ARGON2_MIN_MEMORY_KIB,
        "Argon2id memory cost in KiB, held by each password check",
    ),
    SettingSpec(
        "password.hash_time_cost",
        Integer(ARGON2_MIN_TIME_COST, ARGON2_MAX_TIME_COST),
        ARGON2_MIN_TIME_COST,
        "Argon2id passes over memory",
    ),
    SettingSpec(
        "password.hash_parallelism",
        Integer(ARGON2_MIN_PARALLELISM, ARGON2_MAX_PARALLELISM),
        ARGON2_MIN_PARALLELISM,
        "Argon2id lanes",
    ),
    SettingSpec(
        "password.verify_workers",
        Integer(1, MAX_VERIFY_WORKERS),
        _default_verify_workers,
        "Password checks run at the same time (threads)",
        default_doc=f"number of CPUs, at most {MAX_VERIFY_WORKERS}",
    ),
    SettingSpec(
        "secrets_key_file",
        FilePath(),
        _default_secrets_key_file,
        "AES-256 key (32 bytes, mode 0600) encrypting TOTP secrets at rest; created if missing; "
        "`quivive keys rotate-secrets` replaces it",
        default_doc="`<data_dir>/secrets.key`",
    ),
    SettingSpec(
        "smtp.host",
        OptionalText(253),
        None,
        "SMTP server for security notifications (a recovery code was used); unset: no e-mail",
    ),
    SettingSpec("smtp.port", Integer(1, 65535), 587, "SMTP server port"),
    SettingSpec("smtp.sender", OptionalText(320), None, "From address of notifications"),
    SettingSpec("smtp.username", OptionalText(256), None, "SMTP login, if the server needs one"),
    SettingSpec("smtp.password", OptionalText(256), None, "SMTP password", secret=True),
    SettingSpec(
        "smtp.starttls", Boolean(), True, "Upgrade the SMTP connection with STARTTLS before login"
    ),
    SettingSpec(
        "throttle.max_failures",
        Integer(5, MAX_CONSECUTIVE_FAILURES),
        MAX_CONSECUTIVE_FAILURES,
        "Consecutive failures on an account after which a password alone no longer signs in "
        "(a second factor or `quivive throttle clear` is needed)",
    ),
    SettingSpec(
        "throttle.free_attempts",
        Integer(1, 50),
        DEFAULT_FREE_ATTEMPTS,
        "Failures on one account from one address before each next try waits (1 s, doubling)",
    ),
    SettingSpec(
        "throttle.address_free_attempts",
        Integer(1, 10000),
        DEFAULT_ADDRESS_FREE_ATTEMPTS,
        "Failures from one address, any account, before each next try from it waits",
    ),
    SettingSpec(
        "throttle.max_delay",
        Duration(timedelta(seconds=5), timedelta(hours=1)),
        DEFAULT_MAX_DELAY,
        "Longest wait between tries; also how long an address caught spraying or stuffing waits",
    ),
    SettingSpec(
        "throttle.forget_after",
        Duration(timedelta(minutes=1), timedelta(days=7)),
        DEFAULT_FORGET_AFTER,
        "An address (or account from an address) without failures for this long starts afresh; "
        "longer than throttle.max_delay",
    ),
    SettingSpec(
        "throttle.detection_window",
        Duration(timedelta(minutes=1), timedelta(days=1)),
        DEFAULT_DETECTION_WINDOW,
        "Window in which password spraying and credential stuffing are counted",
    ),
    SettingSpec(
        "throttle.spraying_accounts",
        Integer(2, 10000),
        DEFAULT_SPRAYING_ACCOUNTS,
        "One wrong password tried against this many accounts within the window is spraying",
    ),
    SettingSpec(
        "throttle.stuffing_accounts",
        Integer(2, 10000),
        DEFAULT_STUFFING_ACCOUNTS,
        "This many accounts failing from one address within the window is credential stuffing",
    ),
    SettingSpec(
        "oidc.finess",
        Finess(),
        None,
        "FINESS number of the establishment, given to health applications (scope healthcare)",
    ),
    SettingSpec(
        "oidc.access_token_lifetime",
        Duration(timedelta(minutes=1), MAX_ACCESS_TOKEN_LIFETIME),
        DEFAULT_ACCESS_TOKEN_LIFETIME,
        "Lifetime of OpenID Connect access tokens (JWT)",
    ),
    SettingSpec(
        "oidc.id_token_lifetime",
        Duration(timedelta(minutes=1), MAX_ACCESS_TOKEN_LIFETIME),
        DEFAULT_ACCESS_TOKEN_LIFETIME,
        "Lifetime of OpenID Connect ID tokens",
    ),
    SettingSpec(
        "admin.require_phishing_resistant",
        Boolean(),
        True,
        "Console sign-in requires a passkey (phishing-resistant); false accepts any second factor",
    ),
    SettingSpec(
        "admin.enrolment_link_lifetime",
        Duration(timedelta(hours=1), timedelta(days=14)),
        timedelta(hours=72),
        "A set-up or re-enrolment link sent to a user from the console works once, for this long",
    ),
    SettingSpec(
        "oidc.refresh_token_lifetime",
        Duration(timedelta(minutes=5), MAX_REFRESH_TOKEN_LIFETIME),
        DEFAULT_REFRESH_TOKEN_LIFETIME,
        "How long an unused refresh token stays valid (each use rotates it)",
    ),
    SettingSpec(
        "alerts.email",
        EmailAddress(),
        None,
        "Security officer's address: attacks detected, administrator throttled, cloned "
        "passkey (needs [smtp])",
    ),
    SettingSpec(
        "webhook.url",
        WebhookUrl(),
        None,
        "URL receiving the same alerts as a signed JSON POST (retried with backoff); unset: none",
    ),
    SettingSpec(
        "webhook.secret",
        OptionalText(256),
        None,
        "HMAC-SHA256 key signing webhook bodies (X-Quivive-Signature)",
        secret=True,
    ),
    SettingSpec(
        "metrics.token",
        OptionalText(256),
        None,
        "Bearer token required to read /metrics; unset: no token",
        secret=True,
    ),
    SettingSpec(
        "metrics.localhost_only",
        Boolean(),
        True,
        "Only clients connecting from 127.0.0.1 or ::1 may read /metrics (the socket peer, "
        "never X-Forwarded-For)",
    ),
    SettingSpec(
        "emergency.roles",
        RoleList(),
        (),
        "Roles that may use emergency access (bris de glace) when their second factor is "
        "unavailable; empty: nobody",
        default_doc="(none)",
    ),
    SettingSpec(
        "emergency.duration",
        Duration(timedelta(minutes=5), MAX_EMERGENCY_DURATION),
        timedelta(hours=2),
        "How long an emergency session lasts, counted from its start; never extended",
    ),
    SettingSpec(
        "emergency.max_uses",
        Integer(1, 100),
        3,
        "Emergency accesses allowed per user over 30 days; beyond, refused and alerted",
    ),
    SettingSpec(
        "emergency.min_justification",
        Integer(5, 500),
        20,
        "Minimum length, in characters, of the written justification of an emergency access",
    ),
    SettingSpec(
        "emergency.two_person",
        Boolean(),
        False,
        "A colleague present must confirm each emergency access with their own second factor",
    ),
    SettingSpec(
        "emergency.allow_without_factor",
        Boolean(),
        False,
        "Let users who have no second factor at all, past their role's enrolment deadline, use "
        "emergency access; off: they are told to enrol one",
    ),
    SettingSpec(
        "emergency.review_overdue_days",
        Integer(1, 365),
        7,
        "Emergency accesses not reviewed after this many days are flagged on the dashboard",
    ),
)

SECRET_KEYS: frozenset[str] = frozenset(spec.key for spec in SETTING_SPECS if spec.secret)

_SPECS = {spec.key: spec for spec in SETTING_SPECS}
_SECTIONS: dict[str, Callable[..., Any]] = {
    "session": SessionSettings,
    "password": PasswordSettings,
    "smtp": SmtpSettings,
    "throttle": ThrottleSettings,
    "oidc": OidcSettings,
    "admin": AdminSettings,
    "webhook": WebhookSettings,
    "alerts": AlertSettings,
    "metrics": MetricsSettings,
    "emergency": EmergencySettings,
}


# --- cross-key checks ----------------------------------------------------------------------------


def _check_timeouts(values: Mapping[str, Any]) -> None:
    idle, absolute = values["session.idle_timeout"], values["session.absolute_timeout"]
    if absolute < idle:
        reason = f"must be at least session.idle_timeout ({format_duration(idle)})"
        raise _error("session.absolute_timeout", reason, format_duration(absolute))


def _check_http(values: Mapping[str, Any]) -> None:
    url = values["public_url"]
    if url.startswith("https://") or values["allow_insecure_http"]:
        return
    if urlsplit(url).hostname not in LOOPBACK_HOSTS:
        reason = (
            "plain http is only allowed for localhost, 127.0.0.1 and ::1 (browsers refuse passkeys "
            "and secure cookies elsewhere); serve Quivive over https, for example behind a "
            "TLS-terminating reverse proxy: set public_url to the https address and "
            "trusted_proxies to the number of proxies; or set allow_insecure_http = true "
            "for a test installation"
        )
        raise _error("public_url", reason, url)


def _check_cookie_domain(values: Mapping[str, Any]) -> None:
    domain = values["session.cookie_domain"]
    host = urlsplit(values["public_url"]).hostname or ""
    if domain is not None and host != domain and not host.endswith("." + domain):
        reason = f"must be the host of public_url ({host}) or a parent domain of it"
        raise _error("session.cookie_domain", reason, domain)


def _check_forget_after(values: Mapping[str, Any]) -> None:
    # Forgetting a counter before its longest delay has run out would hand out free attempts.
    forget, longest = values["throttle.forget_after"], values["throttle.max_delay"]
    if forget <= longest:
        reason = f"must be longer than throttle.max_delay ({format_duration(longest)})"
        raise _error("throttle.forget_after", reason, format_duration(forget))


_CROSS_CHECKS: tuple[Callable[[Mapping[str, Any]], None], ...] = (
    _check_forget_after,
    _check_timeouts,
    _check_http,
    _check_cookie_domain,
)


# --- loading -------------------------------------------------------------------------------------


def load_settings(
    env: Mapping[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Read defaults, then the TOML file, then ``QUIVIVE_*`` variables; raise ``ConfigError``.

    ``env`` defaults to ``os.environ``. ``config_file`` defaults to ``$QUIVIVE_CONFIG`` (an empty
    value means no file). Nothing but the TOML file is read; nothing is created.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    source = _config_path(environ, config_file)
    table = _read_toml(source) if source else {}
    mfa_rules = _mfa_rules(table.pop("mfa", None), source) if source else ()
    gate = parse_gate(table.pop("gate", None), source) if source else GateSettings()
    file_values = _flatten(table, source) if source else {}
    values: dict[str, Any] = {}
    for spec in SETTING_SPECS:
        values[spec.key] = _resolve(spec, environ, file_values, values)
    for check in _CROSS_CHECKS:
        check(values)
    return replace(_build(values, source, mfa_rules), gate=gate)


def _config_path(environ: Mapping[str, str], config_file: Path | None) -> Path | None:
    if config_file is not None:
        return Path(os.path.abspath(config_file))
    named = environ.get(CONFIG_FILE_ENV, "").strip()
    return Path(os.path.abspath(named)) if named else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration file: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: not UTF-8 ({exc.reason})") from exc


def _flatten(table: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """TOML tables to dotted keys ("session.idle_timeout"); unknown keys or tables are an error."""
    flat: dict[str, Any] = {}
    unknown: list[str] = []
    for name, value in table.items():
        if name in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: [{name}] must be a table, got {_show_raw(value)}")
            flat.update((f"{name}.{key}", item) for key, item in value.items())
        elif isinstance(value, dict) and name not in _SPECS:
            unknown.append(_unknown("table", name, list(_SECTIONS)))
        else:
            flat[name] = value
    unknown += [_unknown("key", key, list(_SPECS)) for key in flat if key not in _SPECS]
    if unknown:
        raise ConfigError(f"{path}: " + "; ".join(unknown), unknown=unknown)
    return flat


def _unknown(what: str, name: str, known: list[str]) -> str:
    shape = "[{}]" if what == "table" else '"{}"'
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {shape.format(close[0])}?)" if close else ""
    return f"unknown {what} {shape.format(name)}{hint}"


def _resolve(
    spec: SettingSpec,
    environ: Mapping[str, str],
    file_values: Mapping[str, Any],
    resolved: Mapping[str, Any],
) -> Any:
    if spec.env in environ:
        raw: object = environ[spec.env]
    elif spec.key in file_values:
        raw = file_values[spec.key]
    else:
        raw = spec.default(resolved) if callable(spec.default) else spec.default
    try:
        return spec.kind.parse(raw)
    except ValueError as exc:
        raise _error(spec.key, str(exc), raw) from None


def _error(key: str, reason: str, raw: object) -> ConfigError:
    spec = _SPECS[key]
    shown = "a hidden value" if key in SECRET_KEYS else _show_raw(raw)
    return ConfigError(f"{spec.env} / {key}: {reason}, got {shown}", key=key, env=spec.env)


def _show_raw(raw: object) -> str:
    if isinstance(raw, str):
        # JSON quoting escapes line breaks, so a value cannot forge extra log lines.
        return json.dumps(redact(raw), ensure_ascii=False)
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    if isinstance(raw, dict):
        return "a table"
    if isinstance(raw, list):
        return "an array"
    return f"a TOML {type(raw).__name__}"


def _build(
    values: Mapping[str, Any], source: Path | None, mfa_rules: tuple[MfaRule, ...] = ()
) -> Settings:
    top = {key: value for key, value in values.items() if "." not in key}
    sections = {
        name: factory(
            **{
                key.partition(".")[2]: value
                for key, value in values.items()
                if key.startswith(name + ".")
            }
        )
        for name, factory in _SECTIONS.items()
    }
    return Settings(**top, **sections, source=source, mfa_rules=mfa_rules)


# --- [[mfa.rules]]: an array of tables, parsed apart from the one-key-per-spec table ------------

_RULE_KEYS = ("role", "from", "grace_days", "phishing_resistant")


def _mfa_rules(raw: object, path: Path | None) -> tuple[MfaRule, ...]:
    """``[[mfa.rules]]``: role = "medecin", from = 2026-01-01, grace_days, phishing_resistant."""
    if raw is None:
        return ()
    if not isinstance(raw, dict) or set(raw) - {"rules"}:
        raise _rule_error(path, "mfa", "expected only [[mfa.rules]] entries in [mfa]")
    entries = raw.get("rules", [])
    if not isinstance(entries, list):
        raise _rule_error(path, "mfa.rules", "expected an array of tables ([[mfa.rules]])")
    rules = tuple(_mfa_rule(entry, f"mfa.rules[{n}]", path) for n, entry in enumerate(entries, 1))
    roles = [rule.role for rule in rules]
    for role in roles:
        if roles.count(role) > 1:
            raise _rule_error(path, "mfa.rules", f"role {role!r} has more than one rule")
    return rules


def _mfa_rule(entry: object, where: str, path: Path | None) -> MfaRule:
    if not isinstance(entry, dict):
        raise _rule_error(path, where, "expected a table")
    unknown = [key for key in entry if key not in _RULE_KEYS]
    if unknown:
        raise _rule_error(
            path, f"{where}.{unknown[0]}", "unknown key (expected " + ", ".join(_RULE_KEYS) + ")"
        )
    role = entry.get("role")
    if not isinstance(role, str) or not re.fullmatch(r"[^\s]{1,64}", role.strip()):
        raise _rule_error(path, f"{where}.role", f"expected a role name, got {_show_raw(role)}")
    raw_start = start = entry.get("from")
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start.strip())
        except ValueError:
            start = None
    if not isinstance(start, date) or isinstance(start, datetime):
        raise _rule_error(
            path, f"{where}.from", f"expected a date like 2026-01-01, got {_show_raw(raw_start)}"
        )
    grace = _to_int(entry.get("grace_days", 0))
    if grace is None or not 0 <= grace <= MAX_GRACE_DAYS:
        got = _show_raw(entry.get("grace_days"))
        raise _rule_error(
            path,
            f"{where}.grace_days",
            f"expected an integer between 0 and {MAX_GRACE_DAYS}, got {got}",
        )
    strict = entry.get("phishing_resistant", False)
    if not isinstance(strict, bool):
        raise _rule_error(
            path, f"{where}.phishing_resistant", f"expected true or false, got {_show_raw(strict)}"
        )
    return MfaRule(unicodedata.normalize("NFKC", role).strip().casefold(), start, grace, strict)


def _rule_error(path: Path | None, key: str, reason: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {reason}", key=key)


# --- display -------------------------------------------------------------------------------------

# The password in "scheme://user:password@host": greedy up to the last "@", so an unencoded "@" or
# "/" in the password is hidden too (hiding too much beats showing a secret).
_URL_PASSWORD = re.compile(
    r"^([a-z][a-z0-9+.-]*://[^:/?#@]*:).*(@[^@]*)$", re.IGNORECASE | re.DOTALL
)
# libpq also takes the password as a query parameter.
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with any URL password replaced by "***"."""
    text = _URL_PASSWORD.sub(r"\1***\2", text)
    return _QUERY_PASSWORD.sub(r"\1***", text)


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if value is None:
        return "(unset)"
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value) or "(none)"
    return str(value)


def _display(spec: SettingSpec, value: object) -> str:
    if spec.key in SECRET_KEYS:
        return "(unset)" if value in (None, "") else "***"
    return redact(_format(value))


def _value_of(settings: Settings, key: str) -> object:
    holder: object = settings
    for part in key.split("."):
        holder = getattr(holder, part)
    return holder


def describe_settings(settings: Settings) -> list[tuple[str, str, str]]:
    """(TOML key, environment variable, display value) per setting, secrets masked."""
    return [
        (spec.key, spec.env, _display(spec, _value_of(settings, spec.key)))
        for spec in SETTING_SPECS
    ]


def _markdown_default(default: object) -> str:
    return "(unset)" if default is None else f"`{_format(default)}`"


def reference_markdown() -> str:
    """The configuration reference as a markdown table, for the README."""
    lines = [
        "| TOML key | Environment variable | Default | Meaning |",
        "|---|---|---|---|",
    ]
    for spec in SETTING_SPECS:
        cells = (
            f"`{spec.key}`",
            f"`{spec.env}`",
            spec.default_doc or _markdown_default(spec.default),
            f"{spec.meaning}. Accepts {spec.kind.expected}.",
        )
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"
