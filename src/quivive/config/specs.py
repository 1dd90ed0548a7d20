"""``SETTING_SPECS``: the one table of every key, its kind, default, environment twin and help."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from quivive.config.kinds import (
    BindHost,
    Boolean,
    Choice,
    CookieDomain,
    DatabaseUrl,
    DirPath,
    Duration,
    EmailAddress,
    FilePath,
    Finess,
    Integer,
    Kind,
    OptionalText,
    PublicUrl,
    RedisUrl,
    RoleList,
    Text,
    WebhookUrl,
)
from quivive.config.settings import (
    ARGON2_MAX_MEMORY_KIB,
    ARGON2_MAX_PARALLELISM,
    ARGON2_MAX_TIME_COST,
    ARGON2_MIN_MEMORY_KIB,
    ARGON2_MIN_PARALLELISM,
    ARGON2_MIN_TIME_COST,
    DEFAULT_ABSOLUTE_TIMEOUT,
    DEFAULT_ACCESS_TOKEN_LIFETIME,
    DEFAULT_ADDRESS_FREE_ATTEMPTS,
    DEFAULT_AUDIT_RETENTION,
    DEFAULT_DETECTION_WINDOW,
    DEFAULT_FORGET_AFTER,
    DEFAULT_FREE_ATTEMPTS,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_DELAY,
    DEFAULT_MIN_PASSWORD_LENGTH,
    DEFAULT_REFRESH_TOKEN_LIFETIME,
    DEFAULT_SPRAYING_ACCOUNTS,
    DEFAULT_STUFFING_ACCOUNTS,
    ENV_PREFIX,
    MAX_ABSOLUTE_TIMEOUT,
    MAX_ACCESS_TOKEN_LIFETIME,
    MAX_AUDIT_RETENTION,
    MAX_CONSECUTIVE_FAILURES,
    MAX_EMERGENCY_DURATION,
    MAX_IDLE_TIMEOUT,
    MAX_MIN_PASSWORD_LENGTH,
    MAX_REFRESH_TOKEN_LIFETIME,
    MAX_VERIFY_WORKERS,
    MAX_WORKER_THREADS,
    MIN_AUDIT_RETENTION,
    MIN_PASSWORD_LENGTH_FLOOR,
    MIN_TIMEOUT,
    POSTGRESQL_WORKER_THREADS,
    SQLITE_WORKER_THREADS,
    AdminSettings,
    AlertSettings,
    EmergencySettings,
    MetricsSettings,
    OidcSettings,
    PasswordSettings,
    SessionSettings,
    SmtpSettings,
    ThrottleSettings,
    WebhookSettings,
)

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


def _default_worker_threads(values: Mapping[str, Any]) -> int:
    # SQLite has one writer: beyond a few threads, requests only queue for its lock and for
    # Python's GIL, and each extra thread makes every request dearer (bench/: CPU per sign-in
    # outside Argon2, 16 at once, 3.5 ms with 4 threads against 5-6 ms with anyio's 40).
    # PostgreSQL answers over a socket: a few more threads overlap its round trips.
    is_sqlite = str(values["database_url"]).startswith("sqlite")
    return SQLITE_WORKER_THREADS if is_sqlite else POSTGRESQL_WORKER_THREADS


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
        "worker_threads",
        Integer(1, MAX_WORKER_THREADS),
        _default_worker_threads,
        "Threads running requests' blocking work (database, mostly) at the same time",
        default_doc=f"{SQLITE_WORKER_THREADS} on SQLite, {POSTGRESQL_WORKER_THREADS} on PostgreSQL",
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

# For the loader: each key's spec, and the settings class building each TOML table.
SPECS_BY_KEY = {spec.key: spec for spec in SETTING_SPECS}
SECTION_FACTORIES: dict[str, Callable[..., Any]] = {
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
