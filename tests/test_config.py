import dataclasses
import json
import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quivive import config
from quivive.config import (
    POSTGRESQL_WORKER_THREADS,
    SETTING_SPECS,
    SQLITE_WORKER_THREADS,
    AdminSettings,
    AlertSettings,
    EmergencySettings,
    MetricsSettings,
    OidcSettings,
    PasswordSettings,
    SessionSettings,
    Settings,
    SmtpSettings,
    ThrottleSettings,
    WebhookSettings,
    describe_settings,
    format_duration,
    load_settings,
    parse_duration,
    redact,
    reference_markdown,
)
from quivive.config import display as config_display
from quivive.config import loading as config_loading
from quivive.errors import ConfigError

SPEC_KEYS = [spec.key for spec in SETTING_SPECS]
SPECS = {spec.key: spec for spec in SETTING_SPECS}

# A valid non-default value per key: (raw text as in the environment, expected typed value).
SAMPLES: dict[str, tuple[str, object]] = {
    "redis_url": ("redis://:pw@cache.example.org:6380/2", "redis://:pw@cache.example.org:6380/2"),
    "throttle.max_failures": ("50", 50),
    "throttle.free_attempts": ("3", 3),
    "throttle.address_free_attempts": ("200", 200),
    "throttle.max_delay": ("5m", timedelta(minutes=5)),
    "throttle.forget_after": ("1d", timedelta(days=1)),
    "throttle.detection_window": ("30m", timedelta(minutes=30)),
    "throttle.spraying_accounts": ("5", 5),
    "throttle.stuffing_accounts": ("50", 50),
    "data_dir": ("/srv/quivive", Path("/srv/quivive")),
    "database_url": ("postgresql+psycopg://q@db/quivive", "postgresql+psycopg://q@db/quivive"),
    "public_url": ("https://sso.example.org", "https://sso.example.org"),
    "allow_insecure_http": ("yes", True),
    "host": ("10.0.0.5", "10.0.0.5"),
    "port": ("9090", 9090),
    "language": ("en", "en"),
    "trusted_proxies": ("2", 2),
    "worker_threads": ("6", 6),
    "establishment_name": ("CH de Montluçon", "CH de Montluçon"),
    "log_format": ("json", "json"),
    "log_level": ("debug", "debug"),
    "audit_retention": ("730d", timedelta(days=730)),
    "session.idle_timeout": ("30m", timedelta(minutes=30)),
    "session.absolute_timeout": ("20h", timedelta(hours=20)),
    "session.cookie_domain": ("localhost", "localhost"),  # must match the default public_url
    "password.min_length": ("14", 14),
    "password.hash_memory_kib": ("65536", 65536),
    "password.hash_time_cost": ("3", 3),
    "password.hash_parallelism": ("2", 2),
    "password.verify_workers": ("3", 3),
    "oidc.finess": ("2a0000123", "2A0000123"),
    "oidc.access_token_lifetime": ("5m", timedelta(minutes=5)),
    "oidc.id_token_lifetime": ("30m", timedelta(minutes=30)),
    "oidc.refresh_token_lifetime": ("8h", timedelta(hours=8)),
    "admin.require_phishing_resistant": ("no", False),
    "admin.enrolment_link_lifetime": ("24h", timedelta(hours=24)),
    "secrets_key_file": ("/srv/quivive/keys/secrets.key", Path("/srv/quivive/keys/secrets.key")),
    "smtp.host": ("mail.example.org", "mail.example.org"),
    "smtp.port": ("25", 25),
    "smtp.sender": ("sso@example.org", "sso@example.org"),
    "smtp.username": ("quivive", "quivive"),
    "smtp.password": ("s3cret", "s3cret"),
    "smtp.starttls": ("false", False),
    "alerts.email": ("rssi@hopital.example", "rssi@hopital.example"),
    "webhook.url": ("https://siem.example.org/hook", "https://siem.example.org/hook"),
    "webhook.secret": ("hook-s3cret", "hook-s3cret"),
    "metrics.token": ("scrape-t0ken", "scrape-t0ken"),
    "metrics.localhost_only": ("false", False),
    "emergency.roles": ("medecin, infirmier,medecin", ("medecin", "infirmier")),
    "emergency.duration": ("90m", timedelta(minutes=90)),
    "emergency.max_uses": ("5", 5),
    "emergency.min_justification": ("40", 40),
    "emergency.two_person": ("yes", True),
    "emergency.allow_without_factor": ("true", True),
    "emergency.review_overdue_days": ("14", 14),
}

BAD_VALUES: list[tuple[str, str]] = [
    ("redis_url", "http://cache.example.org"),
    ("redis_url", "redis://cache.example.org:99999"),
    ("throttle.max_failures", "101"),  # NIST SP 800-63B-4: at most 100
    ("throttle.max_failures", "0"),
    ("throttle.free_attempts", "0"),
    ("throttle.address_free_attempts", "0"),
    ("throttle.max_delay", "2h"),
    ("throttle.forget_after", "30s"),
    ("throttle.detection_window", "2d"),
    ("throttle.spraying_accounts", "1"),
    ("throttle.stuffing_accounts", "1"),
    ("oidc.finess", "75071218"),
    ("oidc.finess", "75O712184"),
    ("oidc.access_token_lifetime", "2h"),
    ("oidc.id_token_lifetime", "30s"),
    ("oidc.refresh_token_lifetime", "31d"),
    ("admin.require_phishing_resistant", "maybe"),
    ("admin.enrolment_link_lifetime", "30m"),
    ("data_dir", ""),
    ("data_dir", "~/quivive"),
    ("database_url", "mysql://quivive@db/quivive"),
    ("database_url", ""),
    ("public_url", "ftp://sso.example.org"),
    ("public_url", "sso.example.org"),
    ("public_url", "https://sso.example.org/?next=/"),
    ("public_url", "https://sso.example.org/#top"),
    ("public_url", "https://admin:pw@sso.example.org"),
    ("public_url", "https://sso.example.org:99999"),
    ("public_url", "https://sso.exa\nmple.org"),
    ("allow_insecure_http", "maybe"),
    ("allow_insecure_http", ""),
    ("host", ""),
    ("host", "local host"),
    ("port", "80a"),
    ("port", "0"),
    ("port", "65536"),
    ("port", "8_080"),
    ("port", "٨٠"),
    ("language", "de"),
    ("trusted_proxies", "11"),
    ("trusted_proxies", "-1"),
    ("worker_threads", "0"),
    ("worker_threads", "65"),
    ("establishment_name", ""),
    ("secrets_key_file", ""),
    ("smtp.host", "mail\x07host"),
    ("smtp.port", "0"),
    ("smtp.sender", "x" * 321),
    ("smtp.username", "x" * 257),
    ("smtp.password", "x" * 257),
    ("smtp.starttls", "maybe"),
    ("alerts.email", "not-an-address"),
    ("webhook.url", "ftp://siem.example.org/hook"),
    ("webhook.secret", "x" * 257),
    ("metrics.token", "x" * 257),
    ("metrics.localhost_only", "maybe"),
    ("emergency.roles", "medecin, infirmier de nuit"),
    ("emergency.duration", "13h"),
    ("emergency.max_uses", "0"),
    ("emergency.min_justification", "4"),
    ("emergency.two_person", "maybe"),
    ("emergency.allow_without_factor", "sometimes"),
    ("emergency.review_overdue_days", "0"),
    ("establishment_name", "x" * 201),
    ("establishment_name", "CH\nBcc: attacker@example.org"),
    ("log_format", "xml"),
    ("log_level", "trace"),
    ("audit_retention", "29d"),
    ("audit_retention", "1y"),
    ("session.idle_timeout", "59s"),
    ("session.idle_timeout", "61m"),
    ("session.idle_timeout", "15 minutes"),
    ("session.idle_timeout", "-300"),
    ("session.absolute_timeout", "25h"),
    ("session.cookie_domain", "https://example.org"),
    ("session.cookie_domain", "exa mple.org"),
    ("password.min_length", "7"),
    ("password.min_length", "65"),
    ("password.hash_memory_kib", "19455"),
    ("password.hash_time_cost", "1"),
    ("password.hash_parallelism", "0"),
    ("password.verify_workers", "0"),
    ("password.verify_workers", "65"),
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, so relative paths and the default data dir land in it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_toml(directory: Path, text: str) -> Path:
    path = directory / "quivive.toml"
    path.write_text(text, encoding="utf-8")
    return path


def toml_line(key: str, raw: str) -> str:
    """``key = "raw"`` in the right table; JSON string escapes are valid TOML."""
    section, _, name = key.rpartition(".")
    header = f"[{section}]\n" if section else ""
    return f"{header}{name} = {json.dumps(raw)}\n"


def names(key: str) -> str:
    """A ``match=`` pattern for an error message that starts by naming ``key``."""
    return "^" + re.escape(f"{SPECS[key].env} / {key}: ")


def value_of(settings: Settings, key: str) -> Any:
    holder: Any = settings
    for part in key.split("."):
        holder = getattr(holder, part)
    return holder


# --- defaults and sources ------------------------------------------------------------------------


def test_defaults(workdir: Path) -> None:
    settings = load_settings(env={})

    assert settings.data_dir == workdir / "var"
    assert settings.database_url == f"sqlite:///{workdir}/var/quivive.db"
    assert settings.public_url == "http://localhost:8080"
    assert settings.allow_insecure_http is False
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.language == "fr"
    assert settings.trusted_proxies == 0
    assert settings.establishment_name == "Quivive"
    assert (settings.log_format, settings.log_level) == ("text", "info")
    assert settings.session == SessionSettings(timedelta(minutes=15), timedelta(hours=12), None)
    assert settings.password.min_length == 12
    assert settings.password.hash_memory_kib == 19456
    assert settings.password.hash_time_cost == 2
    assert settings.password.hash_parallelism == 1
    assert settings.source is None
    assert settings.https is False
    assert settings.public_host == "localhost"


def test_loading_creates_nothing(workdir: Path) -> None:
    load_settings(env={})

    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(("cpus", "workers"), [(8, 8), (None, 2), (256, 64)])
def test_verify_workers_default_follows_cpus_within_bounds(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, cpus: int | None, workers: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)

    assert load_settings(env={}).password.verify_workers == workers


def test_worker_threads_default_follows_the_database(workdir: Path) -> None:
    postgresql = {"QUIVIVE_DATABASE_URL": "postgresql+psycopg://q@db/quivive"}

    assert load_settings(env={}).worker_threads == SQLITE_WORKER_THREADS
    assert load_settings(env=postgresql).worker_threads == POSTGRESQL_WORKER_THREADS
    assert load_settings(env={**postgresql, "QUIVIVE_WORKER_THREADS": "2"}).worker_threads == 2


def test_default_database_url_follows_data_dir(workdir: Path) -> None:
    settings = load_settings(env={"QUIVIVE_DATA_DIR": "/srv/quivive"})

    assert settings.database_url == "sqlite:////srv/quivive/quivive.db"


def test_relative_data_dir_is_made_absolute(workdir: Path) -> None:
    path = write_toml(workdir, 'data_dir = "state/quivive"\n')

    assert load_settings(env={}, config_file=path).data_dir == workdir / "state" / "quivive"


def test_toml_overrides_defaults(workdir: Path) -> None:
    path = write_toml(
        workdir,
        'port = 9090\nlanguage = "en"\nallow_insecure_http = true\n'
        '[session]\nidle_timeout = 600\nabsolute_timeout = "8h"\n'
        "[password]\nmin_length = 15\n",
    )

    settings = load_settings(env={}, config_file=path)

    assert settings.port == 9090
    assert settings.language == "en"
    assert settings.allow_insecure_http is True
    assert settings.session.idle_timeout == timedelta(minutes=10)
    assert settings.session.absolute_timeout == timedelta(hours=8)
    assert settings.password.min_length == 15
    assert settings.source == path


def test_env_overrides_toml(workdir: Path) -> None:
    path = write_toml(workdir, 'port = 9090\n[session]\nidle_timeout = "10m"\n')
    env = {"QUIVIVE_PORT": "7070", "QUIVIVE_SESSION_IDLE_TIMEOUT": "5m"}

    settings = load_settings(env=env, config_file=path)

    assert settings.port == 7070
    assert settings.session.idle_timeout == timedelta(minutes=5)


def test_empty_env_value_unsets_an_optional_setting(workdir: Path) -> None:
    path = write_toml(workdir, '[session]\ncookie_domain = "localhost"\n')

    settings = load_settings(env={"QUIVIVE_SESSION_COOKIE_DOMAIN": ""}, config_file=path)

    assert settings.session.cookie_domain is None


def test_config_file_named_by_environment(workdir: Path) -> None:
    path = write_toml(workdir, "port = 9090\n")

    settings = load_settings(env={"QUIVIVE_CONFIG": str(path)})

    assert settings.port == 9090
    assert settings.source == path


def test_explicit_config_file_wins_over_environment(workdir: Path) -> None:
    named = write_toml(workdir, "port = 9090\n")
    explicit = workdir / "explicit.toml"
    explicit.write_text("port = 7070\n", encoding="utf-8")

    settings = load_settings(env={"QUIVIVE_CONFIG": str(named)}, config_file=explicit)

    assert settings.port == 7070
    assert settings.source == explicit


def test_relative_config_path_is_recorded_absolute(workdir: Path) -> None:
    write_toml(workdir, "port = 9090\n")

    assert load_settings(env={}, config_file=Path("quivive.toml")).source == (
        workdir / "quivive.toml"
    )


def test_empty_config_variable_means_no_file(workdir: Path) -> None:
    assert load_settings(env={"QUIVIVE_CONFIG": ""}).source is None


def test_process_environment_is_read_by_default(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUIVIVE_PORT", "9191")

    assert load_settings().port == 9191


def test_unknown_environment_variables_are_ignored(workdir: Path) -> None:
    env = {"QUIVIVE_TEST_POSTGRES_URL": "postgresql://ci@db/test", "QUIVIVE_PROT": "1"}

    assert load_settings(env=env).port == 8080


def test_values_are_stripped_and_case_folded(workdir: Path) -> None:
    settings = load_settings(env={"QUIVIVE_PORT": " 9090 ", "QUIVIVE_LOG_LEVEL": "WARNING"})

    assert (settings.port, settings.log_level) == (9090, "warning")


# --- the table -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", SPEC_KEYS)
def test_each_key_has_an_environment_twin(workdir: Path, key: str) -> None:
    raw, expected = SAMPLES[key]

    from_env = load_settings(env={SPECS[key].env: raw})
    from_file = load_settings(env={}, config_file=write_toml(workdir, toml_line(key, raw)))

    assert value_of(from_env, key) == expected
    assert value_of(from_file, key) == expected


def test_samples_cover_every_key() -> None:
    assert set(SAMPLES) == set(SPEC_KEYS)


def test_table_matches_the_dataclasses() -> None:
    sections = {
        "session": SessionSettings,
        "password": PasswordSettings,
        "throttle": ThrottleSettings,
        "smtp": SmtpSettings,
        "oidc": OidcSettings,
        "admin": AdminSettings,
        "webhook": WebhookSettings,
        "alerts": AlertSettings,
        "metrics": MetricsSettings,
        "emergency": EmergencySettings,
    }
    top = (
        {f.name for f in dataclasses.fields(Settings)}
        - set(sections)
        - {"source", "mfa_rules", "gate"}
    )
    nested = {f"{name}.{f.name}" for name, cls in sections.items() for f in dataclasses.fields(cls)}

    assert set(SPEC_KEYS) == top | nested
    assert len(SPEC_KEYS) == len(set(SPEC_KEYS))


def test_environment_names_are_unique_and_prefixed() -> None:
    names = [spec.env for spec in SETTING_SPECS]

    assert len(names) == len(set(names))
    assert all(name.startswith("QUIVIVE_") for name in names)
    assert "QUIVIVE_CONFIG" not in names
    assert SPECS["session.idle_timeout"].env == "QUIVIVE_SESSION_IDLE_TIMEOUT"


def test_computed_defaults_are_documented() -> None:
    for spec in SETTING_SPECS:
        assert spec.default_doc or not callable(spec.default), spec.key


def test_reference_markdown_has_one_row_per_key() -> None:
    lines = reference_markdown().splitlines()

    assert lines[0] == "| TOML key | Environment variable | Default | Meaning |"
    assert len(lines) == 2 + len(SETTING_SPECS)
    for spec, line in zip(SETTING_SPECS, lines[2:], strict=True):
        assert line.startswith(f"| `{spec.key}` | `{spec.env}` |")
        assert line.count(" | ") == 3
    assert "| `port` | `QUIVIVE_PORT` | `8080` |" in lines[2 + SPEC_KEYS.index("port")]


# --- validation ----------------------------------------------------------------------------------


def test_error_message_names_key_and_value(workdir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"QUIVIVE_PORT": "80a"})

    assert str(caught.value) == (
        'QUIVIVE_PORT / port: expected an integer between 1 and 65535, got "80a"'
    )
    assert caught.value.code == "config_error"
    assert caught.value.details == {"key": "port", "env": "QUIVIVE_PORT"}


def test_bad_values_cover_every_key() -> None:
    assert {key for key, _ in BAD_VALUES} == set(SPEC_KEYS)


@pytest.mark.parametrize(("key", "raw"), BAD_VALUES)
def test_bad_environment_value_names_its_key(workdir: Path, key: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=names(key)) as caught:
        load_settings(env={SPECS[key].env: raw})

    assert caught.value.details["key"] == key
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("key", "raw"), BAD_VALUES)
def test_bad_file_value_names_its_key(workdir: Path, key: str, raw: str) -> None:
    path = write_toml(workdir, toml_line(key, raw))

    with pytest.raises(ConfigError, match=names(key)):
        load_settings(env={}, config_file=path)


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        ("port = true", "port", "got true"),
        ("port = 8080.0", "port", "got 8080.0"),
        ("data_dir = 5", "data_dir", "got 5"),
        ('public_url = ["https://a.example"]', "public_url", "got an array"),
        ("[port]\nvalue = 1", "port", "got a table"),
        ("[session]\nidle_timeout = 1.5", "session.idle_timeout", "got 1.5"),
        ("[session]\nidle_timeout = 07:00:00", "session.idle_timeout", "got a TOML time"),
        ("allow_insecure_http = 1", "allow_insecure_http", "got 1"),
    ],
)
def test_wrong_toml_type_names_its_key(workdir: Path, text: str, key: str, shown: str) -> None:
    path = write_toml(workdir, text + "\n")

    with pytest.raises(ConfigError, match=names(key) + f".*{re.escape(shown)}$"):
        load_settings(env={}, config_file=path)


def test_absolute_timeout_below_idle_timeout_is_refused(workdir: Path) -> None:
    env = {"QUIVIVE_SESSION_IDLE_TIMEOUT": "30m", "QUIVIVE_SESSION_ABSOLUTE_TIMEOUT": "20m"}

    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)

    assert str(caught.value) == (
        "QUIVIVE_SESSION_ABSOLUTE_TIMEOUT / session.absolute_timeout: "
        'must be at least session.idle_timeout (30m), got "20m"'
    )


def test_absolute_timeout_equal_to_idle_timeout_is_accepted(workdir: Path) -> None:
    env = {"QUIVIVE_SESSION_IDLE_TIMEOUT": "1h", "QUIVIVE_SESSION_ABSOLUTE_TIMEOUT": "3600"}

    assert load_settings(env=env).session.absolute_timeout == timedelta(hours=1)


@pytest.mark.parametrize(
    ("domain", "expected"),
    [("chu.example.fr", "chu.example.fr"), (".CHU.example.fr", "chu.example.fr")],
)
def test_cookie_domain_may_be_a_parent_of_the_public_host(
    workdir: Path, domain: str, expected: str
) -> None:
    env = {
        "QUIVIVE_PUBLIC_URL": "https://sso.chu.example.fr",
        "QUIVIVE_SESSION_COOKIE_DOMAIN": domain,
    }

    assert load_settings(env=env).session.cookie_domain == expected


@pytest.mark.parametrize(
    "domain", ["other.example.org", "hu.example.fr", "sso.chu.example.fr.evil"]
)
def test_cookie_domain_outside_the_public_host_is_refused(workdir: Path, domain: str) -> None:
    env = {
        "QUIVIVE_PUBLIC_URL": "https://sso.chu.example.fr",
        "QUIVIVE_SESSION_COOKIE_DOMAIN": domain,
    }

    with pytest.raises(ConfigError, match=names("session.cookie_domain")):
        load_settings(env=env)


# --- the TOML file -------------------------------------------------------------------------------


def test_unknown_toml_key_is_named_with_a_suggestion(workdir: Path) -> None:
    path = write_toml(workdir, "prot = 8080\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(env={}, config_file=path)

    assert str(caught.value) == f'{path}: unknown key "prot" (did you mean "port"?)'


def test_unknown_key_in_a_table_is_named(workdir: Path) -> None:
    path = write_toml(workdir, '[session]\nidle_timeot = "5m"\n')

    with pytest.raises(
        ConfigError,
        match=re.escape('unknown key "session.idle_timeot" (did you mean "session.idle_timeout"?)'),
    ):
        load_settings(env={}, config_file=path)


def test_unknown_table_is_named(workdir: Path) -> None:
    path = write_toml(workdir, '[sesion]\nidle_timeout = "5m"\n')

    with pytest.raises(
        ConfigError, match=re.escape("unknown table [sesion] (did you mean [session]?)")
    ):
        load_settings(env={}, config_file=path)


def test_every_unknown_key_is_listed(workdir: Path) -> None:
    path = write_toml(workdir, 'source = "x"\nlangage = "en"\n[mail]\nhost = "mail"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(env={}, config_file=path)

    message = str(caught.value)
    assert '"source"' in message
    assert 'did you mean "language"' in message
    assert "[mail]" in message


def test_section_given_as_a_value_is_refused(workdir: Path) -> None:
    path = write_toml(workdir, "session = 5\n")

    with pytest.raises(ConfigError, match=r"\[session\] must be a table, got 5"):
        load_settings(env={}, config_file=path)


def test_malformed_toml_names_the_file_and_the_problem(workdir: Path) -> None:
    text = "port = \n"
    path = write_toml(workdir, text)
    with pytest.raises(tomllib.TOMLDecodeError) as parse_error:
        tomllib.loads(text)

    with pytest.raises(ConfigError) as caught:
        load_settings(env={}, config_file=path)

    assert str(caught.value) == f"{path}: malformed TOML: {parse_error.value}"


def test_toml_that_is_not_utf8_is_refused(workdir: Path) -> None:
    path = workdir / "latin1.toml"
    path.write_bytes('establishment_name = "Hôpital"\n'.encode("latin-1"))

    with pytest.raises(ConfigError, match="^" + re.escape(f"{path}: malformed TOML: not UTF-8")):
        load_settings(env={}, config_file=path)


def test_missing_config_file_is_an_error(workdir: Path) -> None:
    missing = workdir / "missing.toml"

    with pytest.raises(
        ConfigError, match="^" + re.escape(f"{missing}: cannot read configuration file")
    ):
        load_settings(env={"QUIVIVE_CONFIG": str(missing)})


# --- durations and booleans ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("12h", 43200),
        ("1d", 86400),
        ("900", 900),
        (" 5m ", 300),
        ("0", 0),
        (600, 600),
        (timedelta(minutes=2), 120),
    ],
)
def test_parse_duration(raw: object, seconds: int) -> None:
    assert parse_duration(raw) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "raw", ["", "m", "15M", "1.5h", "1h30m", "15 m", "-5", "\u0665m", True, 1.5, None, -1, 10**30]
)
def test_parse_duration_refuses(raw: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(raw)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (90, "90s"), (900, "15m"), (5400, "90m"), (43200, "12h"), (86400, "1d")],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize("value", [timedelta(milliseconds=1500), timedelta(seconds=-1)])
def test_format_duration_refuses_what_cannot_be_read_back(value: timedelta) -> None:
    with pytest.raises(ValueError, match="whole number of seconds"):
        format_duration(value)


@given(st.integers(min_value=0, max_value=10**12 - 1))
def test_duration_round_trip(seconds: int) -> None:
    value = timedelta(seconds=seconds)

    assert parse_duration(format_duration(value)) == value
    assert parse_duration(str(seconds)) == value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("Yes", True),
        ("false", False),
        ("0", False),
        ("NO", False),
    ],
)
def test_boolean_words(workdir: Path, raw: str, expected: bool) -> None:
    env = {"QUIVIVE_ALLOW_INSECURE_HTTP": raw}

    assert load_settings(env=env).allow_insecure_http is expected


@pytest.mark.parametrize("raw", ["on", "off", "y", "2", "vrai"])
def test_other_boolean_words_are_refused(workdir: Path, raw: str) -> None:
    with pytest.raises(ConfigError, match=names("allow_insecure_http")):
        load_settings(env={"QUIVIVE_ALLOW_INSECURE_HTTP": raw})


# --- database URL --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgres://q@db/quivive", "postgresql+psycopg://q@db/quivive"),
        ("postgresql://q@db:5432/quivive", "postgresql+psycopg://q@db:5432/quivive"),
        ("postgresql+psycopg://q@db/quivive", "postgresql+psycopg://q@db/quivive"),
        ("sqlite:////srv/quivive/quivive.db", "sqlite:////srv/quivive/quivive.db"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_database_url_forms(workdir: Path, raw: str, expected: str) -> None:
    assert load_settings(env={"QUIVIVE_DATABASE_URL": raw}).database_url == expected


def test_other_database_driver_is_refused_with_the_accepted_forms(workdir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"QUIVIVE_DATABASE_URL": "postgresql+psycopg2://q@db/quivive"})

    message = str(caught.value)
    assert message.startswith("QUIVIVE_DATABASE_URL / database_url: ")
    for form in ("sqlite://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        assert form in message


# --- public URL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "url", "host"),
    [
        ("https://SSO.Example.org/", "https://sso.example.org", "sso.example.org"),
        ("https://sso.example.org/Quivive/", "https://sso.example.org/Quivive", "sso.example.org"),
        ("https://sso.example.org:8443", "https://sso.example.org:8443", "sso.example.org"),
        ("HTTP://LOCALHOST:8080/", "http://localhost:8080", "localhost"),
        ("http://127.0.0.1", "http://127.0.0.1", "127.0.0.1"),
        ("http://[::1]:8080", "http://[::1]:8080", "::1"),
    ],
)
def test_public_url_is_normalised(workdir: Path, raw: str, url: str, host: str) -> None:
    settings = load_settings(env={"QUIVIVE_PUBLIC_URL": raw})

    assert settings.public_url == url
    assert settings.public_host == host
    assert settings.https is url.startswith("https://")


@pytest.mark.parametrize(
    "url", ["http://sso.example.org", "http://10.0.0.5:8080", "http://localhost.example.org"]
)
def test_plain_http_is_refused_away_from_localhost(workdir: Path, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"QUIVIVE_PUBLIC_URL": url})

    message = str(caught.value)
    assert message.startswith("QUIVIVE_PUBLIC_URL / public_url: plain http is only allowed for")
    assert "TLS-terminating reverse proxy" in message
    assert "allow_insecure_http" in message


def test_plain_http_is_accepted_when_explicitly_allowed(workdir: Path) -> None:
    env = {"QUIVIVE_PUBLIC_URL": "http://sso.example.org", "QUIVIVE_ALLOW_INSECURE_HTTP": "true"}

    settings = load_settings(env=env)

    assert settings.public_url == "http://sso.example.org"
    assert settings.https is False


# --- display and secrets -------------------------------------------------------------------------


def test_database_password_is_masked(workdir: Path) -> None:
    env = {"QUIVIVE_DATABASE_URL": "postgresql://quivive:s3cret@db:5432/quivive"}

    settings = load_settings(env=env)
    rows = {key: (name, shown) for key, name, shown in describe_settings(settings)}

    assert rows["database_url"] == (
        "QUIVIVE_DATABASE_URL",
        "postgresql+psycopg://quivive:***@db:5432/quivive",
    )
    assert all("s3cret" not in shown for _, shown in rows.values())
    assert "s3cret" not in repr(settings)


def test_database_password_in_the_query_is_masked() -> None:
    url = "postgresql+psycopg://db/quivive?user=q&password=s3cret&sslmode=require"

    assert redact(url) == "postgresql+psycopg://db/quivive?user=q&password=***&sslmode=require"


def test_refused_database_url_does_not_echo_the_password(workdir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"QUIVIVE_DATABASE_URL": "mysql://quivive:s3cret@db/quivive"})

    assert "s3cret" not in str(caught.value)
    assert '"mysql://quivive:***@db/quivive"' in str(caught.value)


@given(st.text(min_size=1))
def test_any_url_password_is_masked(password: str) -> None:
    url = f"postgresql+psycopg://quivive:{password}@db.example.org:5432/quivive"

    assert redact(url) == "postgresql+psycopg://quivive:***@db.example.org:5432/quivive"


def test_url_without_password_is_shown_whole() -> None:
    url = "postgresql+psycopg://quivive@db.example.org:5432/quivive?sslmode=require"

    assert redact(url) == url


def test_describe_settings_lists_every_key_in_order(workdir: Path) -> None:
    rows = describe_settings(load_settings(env={}))

    assert [(key, env) for key, env, _ in rows] == [(s.key, s.env) for s in SETTING_SPECS]
    assert {key: shown for key, _, shown in rows}["session.idle_timeout"] == "15m"


def test_secret_keys_are_masked_and_never_echoed(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No setting is secret yet (smtp password, metrics token will be): borrow one.
    for module in (config_display, config_loading):  # the two that show values
        monkeypatch.setattr(module, "SECRET_KEYS", frozenset({"establishment_name"}))

    rows = describe_settings(load_settings(env={"QUIVIVE_ESTABLISHMENT_NAME": "hunter2"}))
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"QUIVIVE_ESTABLISHMENT_NAME": "hun\nter2"})

    assert ("establishment_name", "QUIVIVE_ESTABLISHMENT_NAME", "***") in rows
    assert "ter2" not in str(caught.value)


def test_secret_flag_feeds_secret_keys() -> None:
    assert {spec.key for spec in SETTING_SPECS if spec.secret} == config.SECRET_KEYS


# --- frozen --------------------------------------------------------------------------------------


def test_settings_are_frozen(workdir: Path) -> None:
    settings = load_settings(env={})

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.session.idle_timeout = timedelta(hours=8)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.password.min_length = 4  # type: ignore[misc]
    assert not hasattr(settings, "__dict__")


# --- throttling ----------------------------------------------------------------------------------


def test_throttle_defaults_follow_nist(workdir: Path) -> None:
    settings = load_settings(env={})

    assert settings.throttle.max_failures == 100
    assert settings.throttle.max_delay < settings.throttle.forget_after
    assert settings.redis_url is None


def test_forget_after_must_outlast_the_longest_delay(workdir: Path) -> None:
    env = {"QUIVIVE_THROTTLE_MAX_DELAY": "30m", "QUIVIVE_THROTTLE_FORGET_AFTER": "30m"}

    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)

    assert str(caught.value) == (
        "QUIVIVE_THROTTLE_FORGET_AFTER / throttle.forget_after: "
        'must be longer than throttle.max_delay (30m), got "30m"'
    )


def test_redis_url_is_secret(workdir: Path) -> None:
    settings = load_settings(env={"QUIVIVE_REDIS_URL": "redis://:s3cret@cache:6379/0"})
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"QUIVIVE_REDIS_URL": "http://:s3cret@cache"})

    assert ("redis_url", "QUIVIVE_REDIS_URL", "***") in describe_settings(settings)
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(caught.value)


def test_empty_redis_url_means_none(workdir: Path) -> None:
    assert load_settings(env={"QUIVIVE_REDIS_URL": ""}).redis_url is None
